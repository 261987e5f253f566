from speechrnn.cli.main import main

raise SystemExit(main())
