from .export import copy_matching_outside_function, prepare_export
from .losses import LOSSES, fidelity_sums, imitation_loss, summarise_fidelity
from .modules import CKBTrainingModule, JointCollator, JointDataset, save_standalone, standalone_state_dict
from .trainer import CKBExportTrainer, CKBImportTrainer, CKBTrainer, ckb_training_args, evaluate_network

__all__ = ["CKBExportTrainer", "CKBImportTrainer", "CKBTrainer", "CKBTrainingModule", "JointCollator",
           "JointDataset", "LOSSES", "ckb_training_args", "copy_matching_outside_function", "evaluate_network",
           "fidelity_sums", "imitation_loss", "prepare_export", "save_standalone", "standalone_state_dict",
           "summarise_fidelity"]
