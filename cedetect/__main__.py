from cedetect.cli import main

raise SystemExit(main())
