from leo_exporter.cli import main

raise SystemExit(main())
