from vigui.app import main

raise SystemExit(main())
