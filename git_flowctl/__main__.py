from git_flowctl.entry import main

raise SystemExit(main())
