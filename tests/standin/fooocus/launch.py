"""Start the stand-in the way Fooocus 2.5.5's launch.py starts Fooocus, in the same order.

Nothing is installed or downloaded: flags, config, model lists, then the UI.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Any

logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
logger = logging.getLogger('launch')
logger.info('[System ARGV] %s', sys.argv)

root = os.path.dirname(os.path.abspath(__file__))
sys.path.append(root)
os.chdir(root)

os.environ['PYTORCH_ENABLE_MPS_FALLBACK'] = '1'
os.environ['PYTORCH_MPS_HIGH_WATERMARK_RATIO'] = '0.0'
if 'GRADIO_SERVER_PORT' not in os.environ:
    os.environ['GRADIO_SERVER_PORT'] = '7865'
# Unlike Fooocus, analytics are off unless asked for, so a test run calls no outside host.
os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')

import fooocus_version  # noqa: E402

logger.info('Fooocus version: %s (stand-in)', fooocus_version.version)


def ini_args() -> Any:
    from args_manager import args
    return args


args = ini_args()

if args.gpu_device_id is not None:
    os.environ['CUDA_VISIBLE_DEVICES'] = str(args.gpu_device_id)
    logger.info('Set device to: %s', args.gpu_device_id)

if args.hf_mirror is not None:
    os.environ['HF_MIRROR'] = str(args.hf_mirror)
    logger.info('Set hf_mirror to: %s', args.hf_mirror)

from modules import config  # noqa: E402

os.environ['U2NET_HOME'] = config.path_inpaint
os.environ['GRADIO_TEMP_DIR'] = config.temp_path

config.update_files()

from webui import *  # noqa: E402,F401,F403
