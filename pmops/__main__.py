from pmops.cli import main

raise SystemExit(main())
