from benchharness.cli import main

raise SystemExit(main())
