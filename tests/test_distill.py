"""Distillation, adapting a new architecture to a frozen CKB, and fine-tuning a CKB-backed network
(hf_ckb.training.distill, .adapt): the loss and its masks, what trains and what stays bit-identical, the best
checkpoint being restored, and the hand-off to export."""

import contextlib
import copy
import json
import os

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertForSequenceClassification, TrainerCallback

from hf_ckb import Bundle, InterfaceConfig, InterfaceModel
from hf_ckb.networks import (CNNConfig, CNNForSequenceClassification, RNNConfig, RNNForSequenceClassification,
                             RNNForTokenClassification)
from hf_ckb.training import (DistillationModule, TeacherEnsemble, adapt_interface, distill, distillation_loss,
                             finetune_interface_model)

QUIET = dict(use_cpu=True, disable_tqdm=True, logging_steps=1000)


@pytest.fixture(scope="module")
def rt():
    """A few Rotten Tomatoes snippets: (tokenizer, train, validation), tokenized, short."""
    from hf_ckb.data import load_rotten_tomatoes, tokenize_dataset, train_tokenizer

    data = load_rotten_tomatoes()
    tokenizer = train_tokenizer(data["train"].select(range(400))["text"], vocab_size=200, min_frequency=1)
    train = tokenize_dataset(data["train"].select(range(128)), tokenizer, max_length=24)
    validation = tokenize_dataset(data["validation"].select(range(48)), tokenizer, max_length=24)
    return tokenizer, train, validation


def cnn(vocab, seed):
    torch.manual_seed(seed)
    return CNNForSequenceClassification(CNNConfig(vocab_size=vocab, embedding_size=16, window_sizes=[2, 3],
                                                  num_filters=8, num_labels=2)).eval()


@torch.no_grad()
def make_teacher(model, ids, mask, spread=3.0):
    """Rescales a random network's 2-class head so that its predictions split about evenly over `ids` with logit
    margins of std `spread`: a random init predicts one class everywhere, which any student matches at once."""
    net = model.base_model if isinstance(model, InterfaceModel) else model
    head = net.classifier
    with model.mode("interface") if isinstance(model, InterfaceModel) else contextlib.nullcontext():
        logits = model(input_ids=ids, attention_mask=mask).logits - head.bias
    margin = logits[:, 1] - logits[:, 0]
    scale = spread / margin.std()
    head.weight.mul_(scale)
    head.bias.copy_(torch.tensor([0.0, -float((scale * margin).median())]))
    return model


def rnn(vocab, seed, token=False):
    torch.manual_seed(seed)
    cls = RNNForTokenClassification if token else RNNForSequenceClassification
    return cls(RNNConfig(vocab_size=vocab, embedding_size=16, hidden_size=16, num_labels=3 if token else 2)).eval()


def batch(dataset, tokenizer, n=16):
    from transformers import DataCollatorWithPadding

    out = DataCollatorWithPadding(tokenizer)([dataset[i] for i in range(n)])
    return out["input_ids"], out["attention_mask"], out["labels"]


def clone_params(module):
    return {n: p.detach().clone() for n, p in module.named_parameters()}


@torch.no_grad()
def kd_and_agreement(student, teacher, ids, mask):
    module = DistillationModule(student, teacher).eval()
    out = module(input_ids=ids, attention_mask=mask)
    agreement = (out["logits"].argmax(-1) == module.teacher_logits(ids, mask).argmax(-1)).float().mean()
    return float(out["loss"]), float(agreement)


# --------------------------------------------------------------------------------------------- the loss
def test_kd_loss_is_zero_for_a_copy_and_the_gradient_reaches_only_the_student(rt):
    tokenizer, train, _ = rt
    ids, mask, labels = batch(train, tokenizer)
    teacher = make_teacher(cnn(len(tokenizer), seed=1), ids, mask)
    same = DistillationModule(copy.deepcopy(teacher), teacher).eval()
    with torch.no_grad():
        assert float(same(input_ids=ids, attention_mask=mask)["loss"]) == pytest.approx(0.0, abs=1e-6)

    student = cnn(len(tokenizer), seed=2)
    module = DistillationModule(student, teacher, temperature=2.0)
    module.train()
    assert not teacher.training and student.training  # the teacher always runs in eval mode
    assert set(dict(module.named_parameters())) == {f"student.{n}" for n, _ in student.named_parameters()}
    assert all(k.startswith("student.") for k in module.state_dict())  # checkpoints hold only the student
    out = module(input_ids=ids, attention_mask=mask, labels=labels)
    assert out["loss"] > 0 and out["logits"].shape == (16, 2)
    out["loss"].backward()
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)
    assert all(p.grad is None for p in teacher.parameters())

    # labels enter only with alpha > 0, as cross-entropy
    module.eval()
    with torch.no_grad():
        kd = module(input_ids=ids, attention_mask=mask, labels=labels)
        mixed = DistillationModule(student, teacher, temperature=2.0, alpha=0.5).eval()(
            input_ids=ids, attention_mask=mask, labels=labels)
    ce = torch.nn.functional.cross_entropy(kd["logits"], labels)
    torch.testing.assert_close(mixed["loss"], kd["loss"] + 0.5 * ce)
    with pytest.raises(ValueError, match="different"):
        DistillationModule(student, student)


def test_distillation_loss_values_and_per_token_masks():
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 5, 3, generator=g), torch.randn(2, 5, 3, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    # by hand: mean over the 8 real positions of T² KL(p_t || p_s) at temperature T
    T = 2.0
    p_t = (teacher / T).softmax(-1)
    kl = (p_t * (p_t.log() - (student / T).log_softmax(-1))).sum(-1)
    expected = T**2 * kl[mask.bool()].mean()
    torch.testing.assert_close(distillation_loss(student, teacher, T, mask), expected)
    garbage = student.clone()
    garbage[0, 3:] = float("nan")  # padded positions never leak in, not even as NaN
    torch.testing.assert_close(distillation_loss(garbage, teacher, T, mask), expected)
    torch.testing.assert_close(distillation_loss(student, teacher, T), T**2 * kl.mean())
    assert float(distillation_loss(teacher, teacher, T, mask)) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(student, teacher, T, torch.zeros_like(mask))) == 0.0
    with pytest.raises(ValueError, match="shape"):
        distillation_loss(student, teacher[:, :4])


def test_token_level_module_masks_padding_and_unlabelled_positions():
    teacher, student = rnn(30, seed=1, token=True), rnn(30, seed=2, token=True)
    ids = torch.randint(2, 30, (3, 6), generator=torch.Generator().manual_seed(0))
    attention = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 3 + [0] * 3])
    labels = torch.tensor([[0, 1, 2, -100, 1, 0], [2, 2, 1, 0, -100, -100], [1, -100, 0, -100, -100, -100]])
    module = DistillationModule(student, teacher, alpha=1.0).eval()
    with torch.no_grad():
        out = module(input_ids=ids, attention_mask=attention, labels=labels)
        t_logits = teacher(input_ids=ids, attention_mask=attention).logits
        s_logits = student(input_ids=ids, attention_mask=attention).logits
    keep = attention.bool() & (labels != -100)
    expected = distillation_loss(s_logits, t_logits, 1.0, keep) + torch.nn.functional.cross_entropy(
        s_logits[keep], labels[keep])
    torch.testing.assert_close(out["loss"], expected)
    assert out["logits"].shape == (3, 6, 3)
    # without labels: every real position counts
    with torch.no_grad():
        unlabelled = DistillationModule(student, teacher).eval()(input_ids=ids, attention_mask=attention)["loss"]
    torch.testing.assert_close(unlabelled, distillation_loss(s_logits, t_logits, 1.0, attention))


# --------------------------------------------------------------------------------------------- distill
def test_distill_brings_the_student_closer_to_the_teacher(rt, tmp_path):
    tokenizer, train, validation = rt
    ids, mask, _ = batch(train, tokenizer, n=len(train))  # the inputs distilled on
    teacher, student = make_teacher(cnn(len(tokenizer), seed=1), ids, mask), cnn(len(tokenizer), seed=2)
    teacher_before = clone_params(teacher)
    kl_before, agree_before = kd_and_agreement(student, teacher, ids, mask)
    # one evaluation, at the end: the checkpoint kept is the last (best-checkpoint selection is tested below)
    returned = distill(student, teacher, tokenizer, train, validation, str(tmp_path), steps=60, learning_rate=3e-2,
                       batch_size=16, eval_steps=60, **QUIET)
    assert returned is student and not student.training
    kl_after, agree_after = kd_and_agreement(student, teacher, ids, mask)
    assert kl_after < 0.5 * kl_before  # (here: 0.30 -> 0.04)
    assert agree_after > agree_before and agree_after >= 0.8  # (0.53 -> 0.95)
    assert all(torch.equal(p, teacher_before[n]) for n, p in teacher.named_parameters())
    assert (tmp_path / "config.json").is_file() and (tmp_path / "model.safetensors").is_file()


@torch.no_grad()
def test_teacher_ensemble_targets_are_the_mean_of_the_teachers_logits(rt):
    tokenizer, train, _ = rt
    ids, mask, _ = batch(train, tokenizer)
    first, second = cnn(len(tokenizer), seed=1), rnn(len(tokenizer), seed=2)
    ensemble = TeacherEnsemble([first, second])
    inputs = {"input_ids": ids, "attention_mask": mask}
    expected = (first(**inputs).logits + second(**inputs).logits) / 2
    torch.testing.assert_close(ensemble(ids, mask)["logits"], expected)
    torch.testing.assert_close(DistillationModule(cnn(len(tokenizer), seed=3), ensemble).teacher_logits(ids, mask),
                               expected)
    with pytest.raises(ValueError, match="at least 2 teachers"):
        TeacherEnsemble([first])
    with pytest.raises(ValueError, match="differ in shape"):
        TeacherEnsemble([first, rnn(len(tokenizer), seed=4, token=True)])(ids, mask)


def test_distill_from_a_list_of_teachers_learns_their_mean(rt, tmp_path):
    tokenizer, train, validation = rt
    ids, mask, _ = batch(train, tokenizer, n=len(train))
    teachers = [make_teacher(cnn(len(tokenizer), seed=s), ids, mask) for s in (1, 5)]
    student = cnn(len(tokenizer), seed=2)
    kl_before, _ = kd_and_agreement(student, TeacherEnsemble(teachers), ids, mask)
    distill(student, teachers, tokenizer, train, validation, str(tmp_path), steps=60, learning_rate=3e-2,
            batch_size=16, eval_steps=60, **QUIET)
    kl_after, agreement = kd_and_agreement(student, TeacherEnsemble(teachers), ids, mask)
    assert kl_after < 0.5 * kl_before and agreement >= 0.8


class RecordAndSpoil(TrainerCallback):
    """Records the trainable weights at every evaluation; at the last step, makes the model always predict class 0
    (so the last evaluation, on class-1 examples only, scores 0 and can never be the best)."""

    def __init__(self):
        self.evaluations = []  # (step, accuracy, weights)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step == state.max_steps:
            head = model.student.classifier
            with torch.no_grad():
                head.weight.zero_()
                head.bias.copy_(torch.tensor([5.0, -5.0]))

    def on_evaluate(self, args, state, control, model=None, metrics=None, **kwargs):
        weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        self.evaluations.append((state.global_step, metrics["eval_accuracy"], weights))


def test_the_best_checkpoint_is_restored_not_the_last(rt, tmp_path):
    tokenizer, train, validation = rt
    fresh_only = validation.filter(lambda example: example["label"] == 1)
    student, teacher = cnn(len(tokenizer), seed=2), cnn(len(tokenizer), seed=1)
    callback = RecordAndSpoil()
    distill(student, teacher, tokenizer, train, fresh_only, str(tmp_path), steps=4, learning_rate=1e-2,
            batch_size=16, eval_steps=1, callbacks=[callback], **QUIET)
    steps = [step for step, _, _ in callback.evaluations]
    assert steps == [1, 2, 3, 4]
    assert callback.evaluations[-1][1] == 0.0  # the spoiled last step
    best = max(callback.evaluations, key=lambda e: e[1])  # the first of equals, as the Trainer keeps it
    assert best[0] < 4
    runs = tmp_path / "checkpoints" / "distill"  # the run's checkpoints, apart from the saved student
    state = json.loads((runs / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["best_model_checkpoint"].endswith(f"checkpoint-{best[0]}")
    for name, param in student.named_parameters():
        torch.testing.assert_close(param, best[2][f"student.{name}"], rtol=0, atol=0, msg=name)
    assert not torch.equal(student.classifier.weight, callback.evaluations[-1][2]["student.classifier.weight"])
    # checkpoints hold only the trainable tensors
    saved = load_file(os.path.join(runs, f"checkpoint-{best[0]}", "trainable.safetensors"))
    assert set(saved) == {f"student.{n}" for n, _ in student.named_parameters()}


# --------------------------------------------------------------------------------------------- adapt_interface
def test_adapt_interface_reads_a_frozen_ckb_and_feeds_export(rt, tmp_path, make_ckb):
    from hf_ckb.pipeline import export_network

    tokenizer, train, validation = rt
    ckb = make_ckb()
    source = InterfaceModel(rnn(len(tokenizer), seed=1), ckb, InterfaceConfig())  # a CKB-backed RNN
    ids, mask, _ = batch(train, tokenizer, n=len(train))
    make_teacher(source, ids, mask)
    ckb_before = {k: v.clone() for k, v in ckb.state_dict().items()}
    source_before = {k: v.clone() for k, v in source.state_dict().items()}
    target = cnn(len(tokenizer), seed=2)
    target_before = clone_params(target)

    net = adapt_interface(ckb, target, source, tokenizer, train, validation, str(tmp_path / "adapt"), steps=60,
                          learning_rate=3e-2, batch_size=16, eval_steps=60, **QUIET)
    assert isinstance(net, InterfaceModel) and net.base_model is target and net.ckb is ckb
    for key, value in ckb.state_dict().items():
        assert torch.equal(value, ckb_before[key]), key
    assert all(p.requires_grad for p in ckb.parameters())  # the flags are restored
    for key, value in source.state_dict().items():
        assert torch.equal(value, source_before[key]), key
    after = dict(target.named_parameters())
    for name, before in target_before.items():
        wrapped = name.replace("convs.", "convs.base_layer.", 1)
        if name.startswith("convs."):  # the imitated function: frozen (unused in interface mode)
            assert torch.equal(after[wrapped], before), name
        else:  # embeddings and head train
            assert not torch.equal(after[name], before), name
    interface = {k: v for k, v in net.named_parameters() if ".interfaces." in k}
    assert interface and all(p.requires_grad for p in interface.values())

    # it learned to reproduce the source: closer than the same interface untrained (same seed, same init)
    fresh_host = cnn(len(tokenizer), seed=2)
    torch.manual_seed(0)  # what adapt_interface does before attaching the interface
    fresh = InterfaceModel(fresh_host, ckb, InterfaceConfig())
    kl_fresh, agree_fresh = kd_and_agreement(fresh, source, ids, mask)
    kl_adapted, agree_adapted = kd_and_agreement(net, source, ids, mask)
    assert kl_adapted < 0.5 * kl_fresh  # (here: 0.34 -> 0.05)
    assert agree_adapted > agree_fresh and agree_adapted >= 0.75  # (0.51 -> 0.91)
    adapted = Bundle.from_pretrained(str(tmp_path / "adapt"))  # a bundle: the unchanged CKB, the new interface
    assert set(adapted.interfaces) == {"ckb_cnn"} and adapted.ckb.fingerprint() == ckb.fingerprint()

    exported = export_network(net, "cnn", tokenizer, train, validation, str(tmp_path / "adapt"), steps=2,
                              eval_steps=2)
    assert (tmp_path / "adapt" / "exported" / "cnn" / "model.safetensors").is_file()
    assert type(exported) is type(target) and not exported.training
    assert torch.equal(exported.embeddings.weight, target.embeddings.weight)  # embeddings/head copied from the adapted
    assert torch.equal(exported.classifier.weight, target.classifier.weight)
    assert all(torch.equal(v, ckb_before[k]) for k, v in ckb.state_dict().items())


# --------------------------------------------------------------------------------------------- finetune
@pytest.mark.parametrize("train_ckb", [False, True])
def test_finetune_interface_model_trains_the_ckb_only_when_asked(train_ckb, rt, tmp_path, make_ckb):
    tokenizer, train, validation = rt
    torch.manual_seed(0)
    host = BertForSequenceClassification(BertConfig(
        vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=64, num_labels=2))
    ckb = make_ckb()
    net = InterfaceModel(host, ckb, InterfaceConfig())  # the interface replaces bert.encoder
    before = clone_params(net)
    returned = finetune_interface_model(net, tokenizer, train, validation, str(tmp_path), steps=3,
                                        learning_rate=1e-2, batch_size=16, eval_steps=3, train_ckb=train_ckb,
                                        **QUIET)
    assert returned is net and not net.training
    after = dict(net.named_parameters())
    ckb_changed = any(not torch.equal(after[n], before[n]) for n in before if n.startswith("ckb."))
    assert ckb_changed is train_ckb
    assert all(p.requires_grad for p in ckb.parameters())  # the flags are restored
    for name in ("base_model.bert.embeddings.word_embeddings.weight",
                 "base_model.bert.embeddings.position_embeddings.weight"):
        assert torch.equal(after[name], before[name]), name
    for name in before:
        if ".base_layer." in name and ".interfaces." not in name:  # the replaced encoder is not trained
            assert torch.equal(after[name], before[name]), name
    for name in ("base_model.classifier.weight", "base_model.bert.pooler.dense.weight",
                 "base_model.bert.embeddings.LayerNorm.weight"):
        assert not torch.equal(after[name], before[name]), name
    assert any(not torch.equal(after[n], before[n]) for n in before if ".interfaces." in n)
    saved = Bundle.from_pretrained(str(tmp_path))
    assert set(saved.interfaces) == {"bert"}
    assert saved.ckb.fingerprint() == ckb.fingerprint()  # the CKB as trained (or left)
    with pytest.raises(TypeError, match="InterfaceModel"):
        finetune_interface_model(host, tokenizer, train, validation, str(tmp_path / "x"), steps=1)


def test_finetune_interface_model_trains_an_interface_that_imitates_the_embeddings(rt, tmp_path):
    """A 'lookup' interface sits inside the embeddings module: it trains, the table it replaces and the CKB do not."""
    from hf_ckb import CKBConfig, CKBModel

    tokenizer, train, validation = rt
    ckb = CKBModel(CKBConfig(num_low_level=4, low_level_size=16, high_level_size=8, hidden_size=16))
    config = InterfaceConfig(design="sparse", target_module="embeddings", function_kind="lookup", num_heads=2, top_k=3)
    net = InterfaceModel(cnn(len(tokenizer), 0), ckb, config)
    before = clone_params(net)
    finetune_interface_model(net, tokenizer, train, validation, str(tmp_path), steps=3, learning_rate=1e-2,
                             batch_size=16, eval_steps=3, train_ckb=False, **QUIET)
    after = dict(net.named_parameters())
    changed = {n for n in before if not torch.equal(after[n], before[n])}
    assert "base_model.embeddings.interfaces.default.out_proj.weight" in changed
    assert "base_model.embeddings.interfaces.default.query.weight" in changed
    assert "base_model.embeddings.base_layer.weight" not in changed and not any(n.startswith("ckb.") for n in changed)


def test_finetune_interface_model_keeps_the_named_parameters_frozen(rt, tmp_path):
    from hf_ckb import CKBConfig, CKBModel

    tokenizer, train, validation = rt
    ckb = CKBModel(CKBConfig(num_low_level=4, low_level_size=16, high_level_size=8, hidden_size=16))
    net = InterfaceModel(cnn(len(tokenizer), 0), ckb, InterfaceConfig(design="sparse", num_heads=2, top_k=3))
    query = {n for n, _ in net.named_parameters() if ".query." in n}
    before = clone_params(net)
    finetune_interface_model(net, tokenizer, train, validation, str(tmp_path), steps=3, learning_rate=1e-2,
                             batch_size=16, eval_steps=3, train_ckb=False, frozen=query, **QUIET)
    after = dict(net.named_parameters())
    assert query and all(torch.equal(after[n], before[n]) for n in query)
    assert any(not torch.equal(after[n], before[n]) for n in before if ".out_proj." in n)
    assert all(p.requires_grad for n, p in net.named_parameters() if n in query)  # the flags are restored
