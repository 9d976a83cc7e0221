from keys_cli.cli import main

raise SystemExit(main())
