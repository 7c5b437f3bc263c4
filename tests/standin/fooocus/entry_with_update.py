"""Fooocus's usual entry point; the stand-in skips the git self-update."""
from __future__ import annotations

import logging
import os
import sys

root = os.path.dirname(os.path.abspath(__file__))
sys.path.append(root)
os.chdir(root)

logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
logging.getLogger('entry_with_update').info('Stand-in: skipped the git update.')

from launch import *  # noqa: E402,F401,F403
