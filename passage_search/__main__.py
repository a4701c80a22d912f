import sys

from passage_search.app.cli import main

sys.exit(main())
