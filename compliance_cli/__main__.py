from compliance_cli.cli import main

raise SystemExit(main())
