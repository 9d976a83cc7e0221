from report_cli.cli import main

raise SystemExit(main())
