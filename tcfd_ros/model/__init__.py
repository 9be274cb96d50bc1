"""TCFDNet (CVPR 2026) in torch: one module per paper component, config, GMTD, checkpoints.

Public contract (docs/DESIGN.md): ``MODALITIES``, ``ModelConfig``, ``TCFDNet``, ``TCFDOutput``,
``ClipFeatures``, ``save_checkpoint`` / ``load_checkpoint``, ``preprocess.frames_to_input``.
"""

from tcfd_ros.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from tcfd_ros.model.config import ModelConfig, tiny_model_config
from tcfd_ros.model.preprocess import MODALITIES, ModelInputError, frames_to_input
from tcfd_ros.model.resnet9 import ResNet9
from tcfd_ros.model.tcfdnet import ClipFeatures, TCFDNet, TCFDOutput

__all__ = [
    "MODALITIES", "Checkpoint", "ClipFeatures", "ModelConfig", "ModelInputError", "ResNet9", "TCFDNet",
    "TCFDOutput", "frames_to_input", "load_checkpoint", "save_checkpoint", "tiny_model_config",
]
