from leo_exporter.launch import main

raise SystemExit(main())
