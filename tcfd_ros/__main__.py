import sys

from tcfd_ros.cli import main

sys.exit(main())
