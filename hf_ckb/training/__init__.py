from .distillation import (DistillationModule, InterfaceTaskModule, adapt_interface, distill, distillation_loss,
                           finetune_interface_model)
from .export import copy_matching_outside_function, prepare_export
from .losses import LOSSES, fidelity_sums, imitation_loss, summarise_fidelity
from .modules import CKBTrainingModule, JointCollator, JointDataset, save_standalone, standalone_state_dict
from .trainer import CKBExportTrainer, CKBImportTrainer, CKBTrainer, ckb_training_args, evaluate_network

__all__ = ["CKBExportTrainer", "CKBImportTrainer", "CKBTrainer", "CKBTrainingModule", "DistillationModule",
           "InterfaceTaskModule", "JointCollator", "JointDataset", "LOSSES", "adapt_interface", "ckb_training_args",
           "copy_matching_outside_function", "distill", "distillation_loss", "evaluate_network", "fidelity_sums",
           "finetune_interface_model", "imitation_loss", "prepare_export", "save_standalone",
           "standalone_state_dict", "summarise_fidelity"]
