from .adapt import adapt_interface
from .arguments import run_arguments
from .distill import DistillationModule, TeacherEnsemble, distill, distillation_loss
from .export import copy_matching_outside_function, prepare_export
from .interface_classifier import InterfaceTaskModule, finetune_interface_model
from .losses import LOSSES, fidelity_sums, imitation_loss, summarise_fidelity
from .modules import CKBTrainingModule, JointCollator, JointDataset
from .trainer import CKBExportTrainer, CKBImportTrainer, CKBTrainer, ckb_training_args, evaluate_network

__all__ = ["CKBExportTrainer", "CKBImportTrainer", "CKBTrainer", "CKBTrainingModule", "DistillationModule",
           "InterfaceTaskModule", "JointCollator", "JointDataset", "LOSSES", "TeacherEnsemble", "adapt_interface",
           "ckb_training_args",
           "copy_matching_outside_function", "distill", "distillation_loss", "evaluate_network", "fidelity_sums",
           "finetune_interface_model", "imitation_loss", "prepare_export", "run_arguments", "summarise_fidelity"]
