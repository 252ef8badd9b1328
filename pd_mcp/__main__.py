"""`python -m pd_mcp` is the same as `pd-mcp`."""

from pd_mcp.cli import main

raise SystemExit(main())
