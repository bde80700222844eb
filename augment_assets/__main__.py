from augment_assets.cli import main

raise SystemExit(main())
