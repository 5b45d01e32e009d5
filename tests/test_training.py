"""Import and export training (Eq. 13-21): losses, the joint dataset, CKBTrainer's loss, evaluation, checkpoints,
resuming, non-finite losses and the standalone export."""

import os

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from hf_ckb import CKBModel, get_interface_model
from hf_ckb.interface.standalone import standalone_network
from hf_ckb.training import (CKBTrainer, CKBTrainingModule, JointCollator, JointDataset, ckb_training_args,
                             fidelity_sums, imitation_loss, prepare_export, summarise_fidelity)
from hf_ckb.training.trainer import last_complete_checkpoint

STEPS = 30


def import_module(make_host, make_ckb, kinds=("rnn", "cnn")):
    ckb = make_ckb()
    nets = {kind: get_interface_model(make_host(kind), ckb) for kind in kinds}
    return CKBTrainingModule(ckb, nets, mode="import")


def make_trainer(module, output_dir, tokenizer, make_token_dataset, mode="import", eval_data=True, **overrides):
    args = dict(max_steps=STEPS, per_device_train_batch_size=8, disable_tqdm=True, learning_rate=1e-2, seed=0,
                data_seed=0, use_cpu=True, logging_steps=1000)
    args.update(overrides)
    names = list(module.networks)
    train = {name: make_token_dataset(64, seed=i) for i, name in enumerate(names)}
    evals = {name: make_token_dataset(24, seed=100 + i, labels=True) for i, name in enumerate(names)}
    return CKBTrainer(module, ckb_training_args(str(output_dir), mode, **args), train_datasets=train,
                      eval_datasets=evals if eval_data else None, tokenizers={name: tokenizer for name in names})


# --------------------------------------------------------------------------------------------- losses
def test_losses_do_not_depend_on_the_memory_layout():
    """A CNN's function returns a transposed view; the teacher cache serves a contiguous copy of the same values.
    Loss, gradient and fidelity must be the same bits for both (a reduction over a strided dim sums in another
    order)."""
    mask = (torch.arange(30)[None] < torch.tensor([30, 21, 9, 17])[:, None]).long()
    for seed in range(8):
        g = torch.Generator().manual_seed(seed)
        view = torch.randn(4, 16, 30, generator=g).transpose(1, 2)  # (B, T, F), not contiguous
        pred = torch.randn(4, 30, 16, generator=g)
        assert fidelity_sums(pred, view, mask) == fidelity_sums(pred, view.contiguous(), mask), seed
        for kind in ("cosine", "mse", "nmse", "cosine+nmse"):
            results = []
            for target in (view, view.contiguous()):
                p = pred.clone().requires_grad_()
                loss = imitation_loss(p, target, mask, kind)
                results.append((loss.detach(), torch.autograd.grad(loss, p)[0]))
            (loss1, grad1), (loss2, grad2) = results
            assert torch.equal(loss1, loss2) and torch.equal(grad1, grad2), (seed, kind)


def test_losses_ignore_padded_positions_and_reject_unknown_names():
    g = torch.Generator().manual_seed(0)
    target = torch.randn(2, 5, 4, generator=g)
    pred = target + 0.1 * torch.randn(2, 5, 4, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    garbage = pred.clone()
    garbage[0, 3:] = 1e3  # padded positions
    for kind in ("cosine", "mse", "nmse", "cosine+nmse"):
        clean = imitation_loss(pred, target, mask, kind)
        assert torch.allclose(imitation_loss(garbage, target, mask, kind), clean), kind
        assert float(imitation_loss(target, target, mask, kind)) == pytest.approx(0.0, abs=1e-6), kind
        assert clean > 0
    # nmse is scale free: multiplying prediction and target by 10 does not change it; mse grows 100x
    assert torch.allclose(imitation_loss(10 * pred, 10 * target, mask, "nmse"),
                          imitation_loss(pred, target, mask, "nmse"))
    assert torch.allclose(imitation_loss(10 * pred, 10 * target, mask, "mse"),
                          100 * imitation_loss(pred, target, mask, "mse"))
    with pytest.raises(ValueError, match="Unknown loss"):
        imitation_loss(pred, target, mask, "l1")
    with pytest.raises(ValueError, match="Unknown loss"):
        CKBTrainingModule(CKBModel.__new__(CKBModel), {}, loss="l1")


def test_fidelity_summary_values():
    target = torch.tensor([[[3.0, 4.0], [1.0, 0.0]]])  # (1, 2, 2)
    pred = torch.tensor([[[3.0, 4.0], [0.0, 1.0]]])
    sums = fidelity_sums(pred, target, torch.tensor([[1, 1]]))
    assert sums["count"] == 2 and sums["cosine"] == pytest.approx(1.0)
    summary = summarise_fidelity(sums)
    assert summary["cosine"] == pytest.approx(0.5)
    assert summary["rel_l2"] == pytest.approx((2.0 / 26.0) ** 0.5)
    masked = summarise_fidelity(fidelity_sums(pred, target, torch.tensor([[1, 0]])))
    assert masked == {"cosine": pytest.approx(1.0), "rel_l2": pytest.approx(0.0)}


# --------------------------------------------------------------------------------------------- data
def test_joint_dataset_and_collator(tiny_tokenizer, make_token_dataset):
    a, b = make_token_dataset(5, seed=0), make_token_dataset(3, seed=1)
    ds = JointDataset({"a": a, "b": b})
    assert len(ds) == 5
    assert ds[4]["a"]["input_ids"] == a[4]["input_ids"] and ds[4]["b"]["input_ids"] == b[1]["input_ids"]
    from transformers import DataCollatorWithPadding

    batch = JointCollator({"a": DataCollatorWithPadding(tiny_tokenizer), "b": DataCollatorWithPadding(tiny_tokenizer)})(
        [ds[i] for i in range(4)])
    longest = max(len(a[i]["input_ids"]) for i in range(4))
    assert batch["a"]["input_ids"].shape == (4, longest)
    assert batch["a"]["attention_mask"].sum(1).tolist() == [len(a[i]["input_ids"]) for i in range(4)]
    assert (batch["a"]["input_ids"][batch["a"]["attention_mask"] == 0] == 0).all()  # padded with [PAD] = 0


def test_empty_dataset_raises(tiny_tokenizer, make_host, make_ckb, tmp_path):
    with pytest.raises(ValueError, match="non-empty"):
        JointDataset({"rnn": []})
    with pytest.raises(ValueError, match="non-empty"):
        JointDataset({})
    module = import_module(make_host, make_ckb, kinds=("rnn",))
    args = ckb_training_args(str(tmp_path), "import", max_steps=2, disable_tqdm=True, use_cpu=True)
    with pytest.raises(ValueError, match="empty"):
        CKBTrainer(module, args, train_datasets={"rnn": []}, tokenizers={"rnn": tiny_tokenizer})


def test_trainer_input_errors(tiny_tokenizer, make_host, make_ckb, tmp_path, make_token_dataset):
    module = import_module(make_host, make_ckb)
    args = ckb_training_args(str(tmp_path), "import", max_steps=2, disable_tqdm=True, use_cpu=True)
    with pytest.raises(ValueError, match="tokenizer.*cnn"):
        CKBTrainer(module, args, train_datasets={"rnn": make_token_dataset(4, 0)}, tokenizers={"rnn": tiny_tokenizer})
    with pytest.raises(TypeError, match="CKBTrainingModule"):
        CKBTrainer(module.networks["rnn"], args, tokenizers={})
    trainer = CKBTrainer(module, args, train_datasets={"rnn": make_token_dataset(4, 0)},
                         tokenizers={"rnn": tiny_tokenizer, "cnn": tiny_tokenizer})
    with pytest.raises(ValueError, match="evaluation datasets"):
        trainer.evaluate()
    with pytest.raises(ValueError, match="does not know"):
        module(other={"input_ids": torch.ones(1, 3, dtype=torch.long)})


def test_training_args_carry_the_papers_optimizer(tmp_path):
    args = ckb_training_args(str(tmp_path), "import", disable_tqdm=True, use_cpu=True)
    assert (args.adam_beta1, args.adam_beta2, args.adam_epsilon, args.weight_decay) == (0.9, 0.98, 1e-9, 0.01)
    assert args.learning_rate == 2e-4 and args.remove_unused_columns is False
    assert args.metric_for_best_model == "min_accuracy" and args.greater_is_better is True
    assert ckb_training_args(str(tmp_path), "export", use_cpu=True).learning_rate == 1e-4
    assert ckb_training_args(str(tmp_path), "export", learning_rate=3e-3, use_cpu=True).learning_rate == 3e-3


# --------------------------------------------------------------------------------------------- import
def test_import_reduces_the_loss_and_evaluate_reports_per_network(tiny_tokenizer, make_host, make_ckb, tmp_path,
                                                                   make_token_dataset):
    module = import_module(make_host, make_ckb)
    hosts_before = {n: {k: v.clone() for k, v in net.base_model.state_dict().items() if ".interfaces." not in k}
                    for n, net in module.networks.items()}
    trainer = make_trainer(module, tmp_path, tiny_tokenizer, make_token_dataset)
    before = trainer.evaluate()
    for name in ("rnn", "cnn"):
        for key in ("accuracy", "cosine", "rel_l2", "loss"):
            assert f"eval_{name}_{key}" in before
        assert 0.0 <= before[f"eval_{name}_accuracy"] <= 1.0
    assert before["eval_min_accuracy"] == min(before["eval_rnn_accuracy"], before["eval_cnn_accuracy"])
    assert before["eval_loss"] == pytest.approx(before["eval_rnn_loss"] + before["eval_cnn_loss"])

    trainer.train()
    after = trainer.evaluate()
    assert trainer.state.global_step == STEPS
    for name in ("rnn", "cnn"):
        assert after[f"eval_{name}_loss"] < 0.5 * before[f"eval_{name}_loss"], name
        assert after[f"eval_{name}_cosine"] > before[f"eval_{name}_cosine"], name
        assert after[f"eval_{name}_rel_l2"] < before[f"eval_{name}_rel_l2"], name
    assert after["eval_min_accuracy"] == min(after["eval_rnn_accuracy"], after["eval_cnn_accuracy"])
    for name, net in module.networks.items():  # the hosts are frozen
        for key, value in net.base_model.state_dict().items():
            if ".interfaces." not in key:
                assert torch.equal(value, hosts_before[name][key]), key


def test_checkpoint_holds_ckb_and_interfaces_not_hosts(tiny_tokenizer, make_host, make_ckb, tmp_path,
                                                       make_token_dataset):
    module = import_module(make_host, make_ckb)
    trainer = make_trainer(module, tmp_path, tiny_tokenizer, make_token_dataset, max_steps=10,
                           save_strategy="steps", save_steps=5, eval_data=False)
    trainer.train()
    checkpoint = tmp_path / "checkpoint-10"
    assert (tmp_path / "checkpoint-5").is_dir() and checkpoint.is_dir()
    assert (checkpoint / "trainable.safetensors").is_file()
    # no host weights anywhere: only the CKB's and the interfaces' tensors (the usable result is the bundle a run
    # writes at its end, hf_ckb.bundle; a checkpoint is for resuming)
    state = load_file(checkpoint / "trainable.safetensors")
    assert set(state) == set(module.trainable_state_dict())
    assert all(k.startswith("ckb.") or ".interfaces." in k for k in state)
    assert not any(".base_layer." in k or "embeddings" in k or "classifier" in k for k in state)
    assert not list(checkpoint.rglob("model.safetensors")) and not list(checkpoint.rglob("*.bin"))

    # the checkpoint restores a fresh module to the trained one's outputs
    restored = import_module(make_host, make_ckb)
    restored.load_checkpoint(str(checkpoint))
    assert torch.equal(restored.ckb.low_level, module.ckb.low_level)
    ids = torch.randint(2, 50, (2, 6))
    module.eval()  # the Trainer leaves it in training mode (classifier dropout)
    restored.eval()
    with torch.no_grad(), restored.networks["rnn"].mode("interface"), module.networks["rnn"].mode("interface"):
        torch.testing.assert_close(restored.networks["rnn"](input_ids=ids).logits,
                                   module.networks["rnn"](input_ids=ids).logits, rtol=0, atol=0)


def test_resume_from_checkpoint_matches_an_uninterrupted_run(tiny_tokenizer, make_host, make_ckb, tmp_path,
                                                            make_token_dataset):
    def run(output_dir, resume=None):
        module = import_module(make_host, make_ckb)
        trainer = make_trainer(module, output_dir, tiny_tokenizer, make_token_dataset, max_steps=20,
                               save_strategy="steps", save_steps=10, eval_data=False)
        trainer.train(resume_from_checkpoint=resume)
        return module.trainable_state_dict(), trainer

    straight, _ = run(tmp_path / "straight")
    interrupted = tmp_path / "interrupted"
    run(interrupted)
    checkpoint = str(interrupted / "checkpoint-10")
    halfway = load_file(os.path.join(checkpoint, "trainable.safetensors"))
    fresh = import_module(make_host, make_ckb).trainable_state_dict()
    assert not torch.equal(halfway["ckb.low_level"], fresh["ckb.low_level"])  # the checkpoint is not the init

    resumed, trainer = run(tmp_path / "resumed", resume=checkpoint)
    assert trainer.state.global_step == 20
    assert set(resumed) == set(straight)
    for key in straight:  # bit for bit on CPU, though the resumed run re-runs the hosts where the other hit the cache
        assert torch.equal(resumed[key], straight[key]), key


def test_resuming_passes_over_a_checkpoint_a_killed_run_left_half_written(tiny_tokenizer, make_host, make_ckb,
                                                                          tmp_path, make_token_dataset):
    def trainer(output_dir):
        return make_trainer(import_module(make_host, make_ckb), output_dir, tiny_tokenizer, make_token_dataset,
                            max_steps=4, save_strategy="steps", save_steps=2, eval_data=False)

    straight = trainer(tmp_path / "straight")
    straight.train()
    killed = trainer(tmp_path / "killed")
    killed.train()
    os.remove(tmp_path / "killed" / "checkpoint-4" / "trainer_state.json")  # killed while saving its last checkpoint
    assert last_complete_checkpoint(str(tmp_path / "killed")) == str(tmp_path / "killed" / "checkpoint-2")
    resumed = trainer(tmp_path / "killed")
    resumed.train(resume_from_checkpoint=True)
    assert resumed.state.global_step == 4
    expected = straight.model.trainable_state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in resumed.model.trainable_state_dict().items())

    for name in ("checkpoint-2", "checkpoint-4"):  # truncated: the kill came while writing them
        (tmp_path / "killed" / name / "trainer_state.json").write_text('{"global_step": 4, "log_hi')
    with pytest.raises(ValueError, match="No complete checkpoint-\\* folder in .*killed.*without resuming"):
        trainer(tmp_path / "killed").train(resume_from_checkpoint=True)


def test_resume_from_a_checkpoint_of_other_networks_raises(tiny_tokenizer, make_host, make_ckb, tmp_path,
                                                           make_token_dataset):
    module = import_module(make_host, make_ckb)
    make_trainer(module, tmp_path / "a", tiny_tokenizer, make_token_dataset, max_steps=2, save_strategy="steps",
                 save_steps=2, eval_data=False).train()
    other = import_module(make_host, make_ckb, kinds=("rnn",))
    trainer = make_trainer(other, tmp_path / "b", tiny_tokenizer, make_token_dataset, max_steps=4, eval_data=False)
    with pytest.raises(ValueError, match="does not fit"):
        trainer.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-2"))
    with pytest.raises(FileNotFoundError, match="trainable.safetensors"):
        other.load_checkpoint(str(tmp_path / "b"))


def test_nan_loss_raises_floating_point_error_naming_the_step(tiny_tokenizer, make_host, make_ckb, tmp_path,
                                                             make_token_dataset):
    module = import_module(make_host, make_ckb, kinds=("rnn",))
    with torch.no_grad():
        module.ckb.low_level[0, 0, 0] = float("nan")
    high_before = module.ckb.high_level.detach().clone()
    trainer = make_trainer(module, tmp_path, tiny_tokenizer, make_token_dataset, max_steps=5, eval_data=False)
    with pytest.raises(FloatingPointError, match=r"step 0\b.*loss_rnn"):
        trainer.train()
    assert torch.equal(module.ckb.high_level, high_before)  # stopped before any update


@pytest.mark.parametrize("kind", ["ann", "bert"])
def test_import_targets_are_deterministic_in_training_mode(kind, make_host, make_ckb):
    module = import_module(make_host, make_ckb, kinds=(kind,))
    module.train()  # what the Trainer does before every epoch
    ids = torch.randint(2, 50, (3, 7), generator=torch.Generator().manual_seed(0))
    net = module.networks[kind]
    module(**{kind: {"input_ids": ids}})
    first = net.records[0].target
    module(**{kind: {"input_ids": ids}})
    assert torch.equal(net.records[0].target, first)


# --------------------------------------------------------------------------------------------- export
@pytest.mark.parametrize("kind", ["rnn", "gpt2"])
def test_export_trains_the_target_and_saves_a_standalone_network(kind, tiny_tokenizer, make_host, make_ckb,
                                                                 tmp_path, make_token_dataset):
    ckb = make_ckb()
    source = get_interface_model(make_host(kind), ckb)
    exported = prepare_export(source)
    module = CKBTrainingModule(ckb, {kind: exported}, mode="export")
    trainable_before = {k: v.clone() for k, v in module.trainable_state_dict().items()}
    frozen_before = {n: p.detach().clone() for n, p in module.named_parameters() if not p.requires_grad}
    trainer = make_trainer(module, tmp_path, tiny_tokenizer, make_token_dataset, mode="export", max_steps=5)
    before = trainer.evaluate()[f"eval_{kind}_loss"]
    trainer.train()
    assert trainer.evaluate()[f"eval_{kind}_loss"] < before
    after = module.trainable_state_dict()
    assert any(not torch.equal(after[k], trainable_before[k]) for k in after)  # the target's function learned
    for name, param in module.named_parameters():  # CKB, interface, copied embeddings/head: untouched
        if not param.requires_grad:
            assert torch.equal(param, frozen_before[name]), name

    standalone_network(exported).save_pretrained(str(tmp_path / "out"))  # what export_network saves and returns
    folder = tmp_path / "out"
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    standalone, info = AutoModelForSequenceClassification.from_pretrained(folder, output_loading_info=True)
    assert type(standalone) is type(source.base_model)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    ids = torch.randint(2, 50, (3, 7), generator=torch.Generator().manual_seed(3))
    exported.eval()
    standalone.eval()
    with torch.no_grad(), exported.mode("host"):
        expected = exported(input_ids=ids).logits
    with torch.no_grad():
        assert torch.equal(standalone(input_ids=ids).logits, expected)
