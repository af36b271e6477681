from xorlab.train.cli import main

raise SystemExit(main())
