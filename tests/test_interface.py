"""Interfaces (Eq. 5-9): the batched attention against its reference loop, masks, modes, sharing one CKB, unload,
save/load and the errors a user can run into."""

import json

import pytest
import torch

from hf_ckb import CKBMismatchError, InterfaceConfig, InterfaceModel, get_interface_model
from hf_ckb.interface import (INTERFACE_CONFIG_NAME, INTERFACE_WEIGHTS_NAME,
                              TRANSFORMERS_MODELS_TO_CKB_TARGET_MODULE_MAPPING, CKBAttention)
from hf_ckb.interface.attention import reference_attention
from hf_ckb.interface.layer import (RecurrentInterfaceLayer, SequenceInterfaceLayer, WindowInterfaceLayer,
                                    first_tensor)
from hf_ckb.training import CKBTrainingModule, prepare_export

ATOL = 1e-5


def only_wrapper(model: InterfaceModel):
    layers = model.interface_layers()
    assert len(layers) == 1
    return layers[0]


def capture_outputs(module):
    """Forward hook keeping the hidden states `module` returns; returns (list, handle)."""
    seen = []
    handle = module.register_forward_hook(lambda m, args, out: seen.append(first_tensor(out).detach().clone()))
    return seen, handle


# --------------------------------------------------------------------------------------------- attention block
def attention_inputs(seed=0, n=3, t=7, in_features=6):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, t, in_features, generator=g)
    low = torch.randn(3, 4, 16, generator=g) * 0.5
    high = torch.randn(5, 16, generator=g) * 0.5
    mask = torch.ones(n, t, dtype=torch.long)
    mask[1, 4:] = 0  # lengths 7, 4, 2
    mask[2, 2:] = 0
    return x, low, high, mask


@pytest.mark.parametrize("intermediate_size", [0, 32], ids=["no_ffn", "ffn"])
@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
@pytest.mark.parametrize("use_mask", [False, True], ids=["no_mask", "padding_mask"])
def test_batched_attention_equals_reference_loop(use_mask, causal, intermediate_size):
    torch.manual_seed(0)
    block = CKBAttention(6, 5, hidden_size=16, num_heads=4, intermediate_size=intermediate_size).eval()
    x, low, high, mask = attention_inputs()
    mask = mask if use_mask else None
    got = block(x, low, high, mask=mask, causal=causal)
    want = reference_attention(block, x, low, high, mask=mask, causal=causal)
    assert got.shape == want.shape == (3, 7, 5)
    valid = mask.bool() if mask is not None else torch.ones(3, 7, dtype=torch.bool)
    torch.testing.assert_close(got[valid], want[valid], atol=ATOL, rtol=0)


@pytest.mark.parametrize("intermediate_size", [0, 32], ids=["no_ffn", "ffn"])
@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
def test_batched_attention_gradients_equal_reference(causal, intermediate_size):
    torch.manual_seed(0)
    block = CKBAttention(6, 5, hidden_size=16, num_heads=4, intermediate_size=intermediate_size).eval()
    x, low, high, mask = attention_inputs(seed=1)
    low.requires_grad_(True)
    high.requires_grad_(True)
    weights = torch.randn(3, 7, 5, generator=torch.Generator().manual_seed(2)) * mask[..., None]

    def grads(fn):
        block.zero_grad()
        low.grad = high.grad = None
        (fn(block, x, low, high, mask=mask, causal=causal) * weights).sum().backward()
        named = {n: p.grad.clone() for n, p in block.named_parameters()}
        return {**named, "ckb.low_level": low.grad.clone(), "ckb.high_level": high.grad.clone()}

    got = grads(lambda b, *a, **k: b(*a, **k))
    want = grads(reference_attention)
    assert got["in_proj.weight"].abs().sum() > 0
    for name in ("in_proj.weight", "in_proj.bias", "low_kv.weight", "high_kv.weight", "attn_out.weight",
                 "out_proj.weight", "ckb.low_level", "ckb.high_level"):
        torch.testing.assert_close(got[name], want[name], atol=ATOL, rtol=0, msg=name)


def test_attention_masks_padding_rows_as_keys():
    torch.manual_seed(0)
    block = CKBAttention(6, 5, hidden_size=16, num_heads=4).eval()
    x, low, high, mask = attention_inputs()
    changed = x.clone()
    changed[1, 4:] = torch.randn(3, 6) * 10  # padded rows of example 1
    a = block(x, low, high, mask=mask)
    b = block(changed, low, high, mask=mask)
    torch.testing.assert_close(a[1, :4], b[1, :4], atol=ATOL, rtol=0)
    assert not torch.allclose(block(changed, low, high)[1, :4], a[1, :4], atol=1e-3)  # without a mask they count


def test_attention_return_attention_shape_and_mass():
    torch.manual_seed(0)
    block = CKBAttention(6, 5, hidden_size=16, num_heads=4).eval()
    x, low, high, mask = attention_inputs()
    y, probs = block(x, low, high, mask=mask, return_attention=True)
    assert probs.shape == (3, 7, 5 + 3)  # over M^h rows and the K hidden states
    assert (probs >= 0).all() and (probs.sum(-1) < 1 + 1e-6).all()
    torch.testing.assert_close(y, block(x, low, high, mask=mask))


def test_attention_heads_must_divide_width():
    with pytest.raises(ValueError, match="divisible"):
        CKBAttention(6, 5, hidden_size=16, num_heads=3)


# --------------------------------------------------------------------------------------------- masks in hosts
def test_padding_does_not_change_real_positions_bert(tiny_bert, tiny_ckb, token_ids):
    model = get_interface_model(tiny_bert, tiny_ckb, InterfaceConfig())
    wrapper = only_wrapper(model)
    assert isinstance(wrapper, SequenceInterfaceLayer) and model.interface_configs["default"].causal is False
    ids = token_ids[:2, :5]
    padded = torch.cat([ids, torch.randint(1, 50, (2, 3), generator=torch.Generator().manual_seed(7))], dim=1)
    mask = torch.cat([torch.ones(2, 5), torch.zeros(2, 3)], dim=1).long()
    seen, handle = capture_outputs(wrapper)
    with torch.no_grad(), model.mode("interface"):
        model(input_ids=ids, attention_mask=torch.ones_like(ids))
        model(input_ids=padded, attention_mask=mask)
        model(input_ids=padded, attention_mask=torch.ones_like(padded))  # the same tokens, but real
    handle.remove()
    short, masked, unmasked = seen
    torch.testing.assert_close(masked[:, :5], short, atol=ATOL, rtol=0)
    assert not torch.allclose(unmasked[:, :5], short, atol=1e-4)  # the test can see a leak


def test_causal_host_interface_does_not_read_the_future(tiny_gpt2, tiny_ckb, token_ids):
    model = get_interface_model(tiny_gpt2, tiny_ckb, InterfaceConfig())
    assert model.interface_configs["default"].causal is True
    wrapper = only_wrapper(model)
    ids = token_ids[:2, :6]
    changed = ids.clone()
    changed[:, 4] = (changed[:, 4] + 5) % 49 + 1
    seen, handle = capture_outputs(wrapper)
    with torch.no_grad(), model.mode("interface"):
        model(input_ids=ids)
        model(input_ids=changed)
    handle.remove()
    a, b = seen
    torch.testing.assert_close(a[:, :4], b[:, :4], atol=ATOL, rtol=0)
    assert not torch.allclose(a[:, 4:], b[:, 4:], atol=1e-4)


def test_bidirectional_host_interface_reads_later_tokens(tiny_bert, tiny_ckb, token_ids):
    """The counterpart of the causal test: a BERT interface is not causal, so earlier positions do change."""
    model = get_interface_model(tiny_bert, tiny_ckb, InterfaceConfig())
    ids = token_ids[:2, :6]
    changed = ids.clone()
    changed[:, 4] = (changed[:, 4] + 5) % 49 + 1
    seen, handle = capture_outputs(only_wrapper(model))
    with torch.no_grad(), model.mode("interface"):
        model(input_ids=ids)
        model(input_ids=changed)
    handle.remove()
    assert not torch.allclose(seen[0][:, :4], seen[1][:, :4], atol=1e-4)


# --------------------------------------------------------------------------------------------- sharing one CKB
def test_two_hosts_share_one_ckb(tiny_rnn, tiny_cnn, tiny_ckb, make_ckb):
    rnn = get_interface_model(tiny_rnn, tiny_ckb)
    cnn = get_interface_model(tiny_cnn, tiny_ckb)
    w_rnn, w_cnn = only_wrapper(rnn), only_wrapper(cnn)
    assert w_rnn.ckb is tiny_ckb and w_cnn.ckb is tiny_ckb
    assert w_rnn.ckb.low_level.data_ptr() == w_cnn.ckb.low_level.data_ptr() == tiny_ckb.low_level.data_ptr()
    assert w_rnn.ckb.high_level.data_ptr() == w_cnn.ckb.high_level.data_ptr()

    module = CKBTrainingModule(tiny_ckb, {"rnn": rnn, "cnn": cnn}, mode="import")
    params = list(module.parameters())
    assert sum(p is tiny_ckb.low_level for p in params) == 1
    assert sum(p is tiny_ckb.high_level for p in params) == 1
    assert len({id(p) for p in params}) == len(params)  # no parameter listed twice
    names = [n for n, _ in module.named_parameters()]
    assert names.count("ckb.low_level") == 1 and not any(n.endswith(".ckb.low_level") for n in names)

    other = get_interface_model(tiny_rnn.__class__(tiny_rnn.config).eval(), make_ckb(seed=1))
    with pytest.raises(ValueError, match="another CKB"):
        CKBTrainingModule(tiny_ckb, {"rnn": rnn, "other": other})


def test_changing_the_shared_ckb_changes_every_interface(tiny_rnn, tiny_cnn, tiny_ckb, token_ids):
    rnn = get_interface_model(tiny_rnn, tiny_ckb)
    cnn = get_interface_model(tiny_cnn, tiny_ckb)
    with torch.no_grad(), rnn.mode("interface"), cnn.mode("interface"):
        before = rnn(input_ids=token_ids).logits, cnn(input_ids=token_ids).logits
        tiny_ckb.high_level.mul_(20.0)
        tiny_ckb.low_level.mul_(20.0)
        after = rnn(input_ids=token_ids).logits, cnn(input_ids=token_ids).logits
    assert not torch.allclose(before[0], after[0]) and not torch.allclose(before[1], after[1])


# --------------------------------------------------------------------------------------------- trainable sets
def test_import_trains_exactly_the_ckb_and_interfaces(tiny_rnn, tiny_cnn, tiny_ckb):
    nets = {"rnn": get_interface_model(tiny_rnn, tiny_ckb), "cnn": get_interface_model(tiny_cnn, tiny_ckb)}
    module = CKBTrainingModule(tiny_ckb, nets, mode="import")
    expected = {id(tiny_ckb.low_level), id(tiny_ckb.high_level)}
    for net in nets.values():
        for block in only_wrapper(net).interfaces.values():
            expected |= {id(p) for p in block.parameters()}
    trainable = {id(p) for p in module.parameters() if p.requires_grad}
    assert trainable == expected
    host_params = [p for net in nets.values() for n, p in net.base_model.named_parameters() if ".interfaces." not in n]
    assert host_params and not any(p.requires_grad for p in host_params)


def test_export_trains_exactly_the_target_function(tiny_rnn, tiny_ckb):
    source = get_interface_model(tiny_rnn, tiny_ckb)
    exported = prepare_export(source)
    target = exported.base_model
    assert target is not tiny_rnn
    assert exported.copied_from_source == {"embeddings.weight", "classifier.weight", "classifier.bias"}
    assert torch.equal(target.embeddings.weight, tiny_rnn.embeddings.weight)
    assert torch.equal(target.classifier.weight, tiny_rnn.classifier.weight)
    src_block = only_wrapper(source).interfaces["default"]
    dst_block = only_wrapper(exported).interfaces["default"]
    for (name, a), b in zip(src_block.state_dict().items(), dst_block.state_dict().values()):
        assert torch.equal(a, b), name
    module = CKBTrainingModule(tiny_ckb, {"rnn": exported}, mode="export")
    trainable = {id(p) for p in module.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in only_wrapper(exported).base_layer.parameters()}  # the target's GRU only
    assert not tiny_ckb.low_level.requires_grad and not any(p.requires_grad for p in dst_block.parameters())


def test_export_trains_head_that_cannot_be_copied(tiny_rnn, tiny_ckb, make_host):
    from hf_ckb.networks import RNNConfig, RNNForSequenceClassification

    source = get_interface_model(tiny_rnn, tiny_ckb)
    target = RNNForSequenceClassification(RNNConfig(vocab_size=50, embedding_size=16, hidden_size=16, num_labels=3))
    exported = prepare_export(source, target)
    assert exported.copied_from_source == {"embeddings.weight"}
    CKBTrainingModule(tiny_ckb, {"rnn": exported}, mode="export")
    assert target.classifier.weight.requires_grad and target.gru.base_layer.weight_hh_l0.requires_grad
    assert not target.embeddings.weight.requires_grad


def trainable_ids(module) -> set[int]:
    return {id(p) for p in module.parameters() if p.requires_grad}


def ids(*modules) -> set[int]:
    return {id(p) for module in modules for p in module.parameters()}


def numel(*modules) -> int:
    return sum(p.numel() for module in modules for p in module.parameters())


@pytest.mark.parametrize("kind", ["rnn", "bert"])
def test_wrapping_freezes_the_host_as_get_peft_model(kind, make_host, tiny_ckb, capsys):
    model = get_interface_model(make_host(kind), tiny_ckb)
    block = only_wrapper(model).interfaces["default"]
    assert trainable_ids(model) == ids(tiny_ckb, block)  # the host, its function included, is frozen
    model.print_trainable_parameters()
    trainable, total = numel(tiny_ckb, block), numel(make_host(kind), tiny_ckb, block)  # the CKB counts once
    assert model.get_nb_trainable_parameters() == (trainable, total)
    assert capsys.readouterr().out.strip() == (f"trainable params: {trainable:,d} || all params: {total:,d} || "
                                               f"trainable%: {100 * trainable / total:.4f}")
    model.add_interface("second", InterfaceConfig())  # another interface trains too; the first keeps its flags
    assert trainable_ids(model) == ids(tiny_ckb, only_wrapper(model).interfaces)


def lora_bert(make_host, seed=0):
    """A tiny BERT wrapped by PEFT: LoRA on every `query` (inside the encoder an interface imitates) and on the
    pooler (outside it). Both LoRA layers have a `base_layer`, as interface wrappers do."""
    from peft import LoraConfig, get_peft_model

    return get_peft_model(make_host("bert", seed), LoraConfig(r=2, target_modules=["query", "pooler.dense"]))


def test_a_peft_wrapped_host_is_classified_by_module_not_by_name(make_host, tiny_ckb):
    source = get_interface_model(lora_bert(make_host), tiny_ckb)  # the default target, through PeftModel: bert.encoder
    peft_model = source.base_model.base_model.model
    encoder, pooler = peft_model.bert.encoder, peft_model.bert.pooler.dense
    assert isinstance(encoder, SequenceInterfaceLayer) and hasattr(pooler, "base_layer") and hasattr(pooler, "lora_A")
    assert trainable_ids(source) == ids(tiny_ckb, encoder.interfaces)  # LoRA frozen too, as all of the host
    assert source.get_nb_trainable_parameters() == (numel(tiny_ckb, encoder.interfaces),
                                                    numel(lora_bert(make_host), tiny_ckb, encoder.interfaces))
    imported = CKBTrainingModule(tiny_ckb, {"bert": source}, mode="import")
    assert trainable_ids(imported) == ids(tiny_ckb, encoder.interfaces)

    target = lora_bert(make_host, seed=1)
    exported = CKBTrainingModule(tiny_ckb, {"bert": prepare_export(source, target)}, mode="export")
    target_bert = target.base_model.model.bert
    assert trainable_ids(exported) == ids(target_bert.encoder.base_layer)  # the encoder, its LoRA included
    # the pooler's own `base_layer` is outside the function: copied from the source and frozen
    assert torch.equal(target_bert.pooler.dense.base_layer.weight, pooler.base_layer.weight)
    assert "base_model.model.bert.pooler.dense.base_layer.weight" in exported.networks["bert"].copied_from_source


# --------------------------------------------------------------------------------------------- unload
@pytest.mark.parametrize("kind,path,wrapper_type", [
    ("bert", "bert.encoder", SequenceInterfaceLayer),
    ("gpt2", "transformer.h.0", SequenceInterfaceLayer),  # a ModuleList stack becomes one wrapper
    ("rnn", "gru", RecurrentInterfaceLayer),
    ("cnn", "convs", WindowInterfaceLayer),
])
def test_unload_restores_the_host_bit_exactly(kind, path, wrapper_type, make_host, tiny_ckb, token_ids):
    host = make_host(kind)
    types = {name: type(m) for name, m in host.named_modules()}
    keys = list(host.state_dict())
    with torch.no_grad():
        before = host(input_ids=token_ids).logits
    model = get_interface_model(host, tiny_ckb)
    assert isinstance(host.get_submodule(path), wrapper_type)
    with torch.no_grad(), model.mode("interface"):
        assert not torch.allclose(model(input_ids=token_ids).logits, before)
    plain = model.unload()
    assert plain is host
    assert {name: type(m) for name, m in plain.named_modules()} == types
    assert list(plain.state_dict()) == keys
    assert not plain._forward_pre_hooks and model.interface_configs == {}
    with torch.no_grad():
        assert torch.equal(plain(input_ids=token_ids).logits, before)


# --------------------------------------------------------------------------------------------- modes
@pytest.mark.parametrize("kind", ["bert", "gpt2", "rnn", "cnn", "ann"])
def test_host_mode_equals_the_plain_host(kind, make_host, tiny_ckb, token_ids):
    mask = torch.ones_like(token_ids)
    mask[1, 5:] = 0
    with torch.no_grad():
        plain = make_host(kind)(input_ids=token_ids, attention_mask=mask).logits
        model = get_interface_model(make_host(kind), tiny_ckb)
        with model.mode("host"):
            hosted = model(input_ids=token_ids, attention_mask=mask).logits
        with model.disable_interfaces():
            disabled = model(input_ids=token_ids, attention_mask=mask).logits
        with model.mode("interface"):
            interfaced = model(input_ids=token_ids, attention_mask=mask).logits
    assert torch.equal(hosted, plain) and torch.equal(disabled, plain)
    assert not torch.allclose(interfaced, plain)
    assert model.records == []


@pytest.mark.parametrize("kind", ["bert", "rnn", "cnn"])
def test_import_mode_returns_host_outputs_and_records_pairs(kind, make_host, tiny_ckb, token_ids):
    mask = torch.ones_like(token_ids)
    mask[2, 4:] = 0
    with torch.no_grad():
        plain = make_host(kind)(input_ids=token_ids, attention_mask=mask).logits
    model = get_interface_model(make_host(kind), tiny_ckb)
    model.freeze_host()
    wrapper = only_wrapper(model)
    function_out, handle = capture_outputs(wrapper.base_layer)
    with model.mode("import"):
        logits = model(input_ids=token_ids, attention_mask=mask).logits
    handle.remove()
    (record,) = model.records
    with model.mode("host"):
        assert torch.equal(logits, model(input_ids=token_ids, attention_mask=mask).logits)
    assert model.records == []  # every forward starts a new list
    # (torch's GRU kernel differs by ~1e-9 when its weights do not require grad, hence not torch.equal here)
    torch.testing.assert_close(logits, plain, atol=1e-6, rtol=0)
    assert record.name == "default"
    assert record.prediction.requires_grad and not record.target.requires_grad
    assert record.prediction.shape == record.target.shape == (3, 7, model.interface_configs["default"].out_features)
    assert torch.equal(record.target, function_out[0])  # the host's function output is the target
    assert torch.equal(record.mask, mask)
    record.prediction.sum().backward()
    assert tiny_ckb.low_level.grad is not None and tiny_ckb.low_level.grad.abs().sum() > 0


def test_export_mode_is_the_reverse(tiny_rnn, tiny_ckb, token_ids):
    model = get_interface_model(tiny_rnn, tiny_ckb)
    for p in model.parameters():
        p.requires_grad_(True)
    with torch.no_grad():
        plain = model.base_model(input_ids=token_ids).logits  # mode 'interface' is the default...
    with model.mode("import"):
        model(input_ids=token_ids)
    imported = model.records[0]
    with model.mode("export"):
        logits = model(input_ids=token_ids).logits
    (record,) = model.records
    assert not torch.equal(logits, plain)  # ...so 'export' (the host's own output) differs from it
    with torch.no_grad(), model.mode("host"):
        assert torch.equal(logits, model(input_ids=token_ids).logits)
    assert record.prediction.requires_grad and not record.target.requires_grad
    # export's prediction is the function's output, its target the interface's (teacher-forced) output
    torch.testing.assert_close(record.prediction.detach(), imported.target, atol=0, rtol=0)
    torch.testing.assert_close(record.target, imported.prediction.detach(), atol=ATOL, rtol=0)
    record.prediction.sum().backward()
    assert tiny_rnn.gru.base_layer.weight_ih_l0.grad is not None and tiny_ckb.low_level.grad is None


def test_rnn_interface_mode_runs_the_recurrence(tiny_rnn, tiny_ckb, token_ids):
    model = get_interface_model(tiny_rnn, tiny_ckb)
    wrapper = only_wrapper(model)
    block = wrapper.interfaces["default"]
    states, handle = capture_outputs(wrapper)
    with torch.no_grad(), model.mode("interface"):
        model(input_ids=token_ids)
        x = tiny_rnn.embeddings(token_ids)  # mask is all ones
        low, high = tiny_ckb.low_level, tiny_ckb.high_level
        h1 = block(torch.cat([x[:, 0], torch.zeros(3, 16)], -1)[:, None], low, high)[:, 0]
        h2 = block(torch.cat([x[:, 1], h1], -1)[:, None], low, high)[:, 0]
    handle.remove()
    torch.testing.assert_close(states[0][:, 0], h1, atol=ATOL, rtol=0)
    torch.testing.assert_close(states[0][:, 1], h2, atol=ATOL, rtol=0)
    # and not the teacher-forced reading (fed the GRU's own h1)
    with torch.no_grad():
        gru_h1 = wrapper.base_layer(x)[0][:, 0]
        forced = block(torch.cat([x[:, 1], gru_h1], -1)[:, None], low, high)[:, 0]
    assert not torch.allclose(forced, h2, atol=1e-4)


def test_cnn_window_interface_reads_end_padded_windows(tiny_cnn, tiny_ckb, token_ids):
    model = get_interface_model(tiny_cnn, tiny_ckb)
    wrapper = only_wrapper(model)
    assert wrapper.window_size == 3 and model.interface_configs["default"].in_features == 3 * 16
    block = wrapper.interfaces["default"]
    outs, handle = capture_outputs(wrapper)
    with torch.no_grad(), model.mode("interface"):
        model(input_ids=token_ids)
        x = tiny_cnn.embeddings(token_ids)
        low, high = tiny_ckb.low_level, tiny_ckb.high_level
        first = block(x[:, 0:3].flatten(1)[:, None], low, high)[:, 0]
        last = block(torch.cat([x[:, 6], torch.zeros(3, 32)], -1)[:, None], low, high)[:, 0]
    handle.remove()
    torch.testing.assert_close(outs[0][:, 0], first, atol=ATOL, rtol=0)
    torch.testing.assert_close(outs[0][:, 6], last, atol=ATOL, rtol=0)


def test_mode_context_restores_and_rejects_unknown(tiny_rnn, tiny_ckb):
    model = get_interface_model(tiny_rnn, tiny_ckb)
    assert model.context.mode == "interface"
    with pytest.raises(RuntimeError):
        with model.mode("host"):
            assert model.context.mode == "host"
            raise RuntimeError
    assert model.context.mode == "interface"
    with pytest.raises(ValueError, match="mode"):
        model.set_mode("train")


# --------------------------------------------------------------------------------------------- save / load
def interface_logits(model, ids):
    with torch.no_grad(), model.mode("interface"):
        return model(input_ids=ids).logits


@pytest.mark.parametrize("kind", ["rnn", "bert"])
def test_save_and_load_gives_identical_outputs(kind, make_host, tiny_ckb, token_ids, tmp_path):
    model = get_interface_model(make_host(kind), tiny_ckb)
    expected = interface_logits(model, token_ids)
    model.save_pretrained(tmp_path)
    assert (tmp_path / INTERFACE_CONFIG_NAME).is_file() and (tmp_path / INTERFACE_WEIGHTS_NAME).is_file()
    assert not (tmp_path / "adapter_config.json").exists()
    assert not list(tmp_path.glob(".tmp-*"))  # atomic writes leave nothing behind
    saved = json.loads((tmp_path / INTERFACE_CONFIG_NAME).read_text())
    assert saved["ckb_fingerprint"] == tiny_ckb.fingerprint()
    assert saved["ckb_hidden_size"] == 16 and saved["target_module"] == model.interface_configs["default"].target_module

    torch.manual_seed(123)  # the fresh interface starts from other random weights: loading must replace them
    loaded = InterfaceModel.from_pretrained(make_host(kind), tiny_ckb, str(tmp_path))
    assert torch.equal(interface_logits(loaded, token_ids), expected)


def test_loading_against_another_ckb_raises_unless_allowed(tiny_rnn, tiny_ckb, make_ckb, make_host, tmp_path):
    get_interface_model(tiny_rnn, tiny_ckb).save_pretrained(tmp_path)
    other = make_ckb(seed=1)
    with pytest.raises(CKBMismatchError, match=tiny_ckb.fingerprint()):
        InterfaceModel.from_pretrained(make_host("rnn"), other, str(tmp_path))
    host = make_host("rnn")
    with pytest.raises(CKBMismatchError):  # a failed load leaves the host untouched
        InterfaceModel.from_pretrained(host, other, str(tmp_path))
    assert type(host.gru) is torch.nn.GRU
    loaded = InterfaceModel.from_pretrained(make_host("rnn"), other, str(tmp_path), allow_ckb_mismatch=True)
    assert loaded.ckb is other
    with torch.no_grad():  # the same CKB changed after saving is a mismatch too
        tiny_ckb.low_level[0, 0, 0] += 0.1
    with pytest.raises(CKBMismatchError):
        InterfaceModel.from_pretrained(make_host("rnn"), tiny_ckb, str(tmp_path))


def test_loading_against_a_ckb_of_another_width_always_raises(tiny_rnn, tiny_ckb, make_host, tmp_path):
    from hf_ckb import CKBConfig, CKBModel

    get_interface_model(tiny_rnn, tiny_ckb).save_pretrained(tmp_path)
    wide = CKBModel(CKBConfig(num_low_level=3, low_level_size=4, high_level_size=5, hidden_size=32))
    with pytest.raises(CKBMismatchError, match="width"):
        InterfaceModel.from_pretrained(make_host("rnn"), wide, str(tmp_path), allow_ckb_mismatch=True)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupted_weights_raise_value_error(damage, tiny_rnn, tiny_ckb, make_host, tmp_path):
    get_interface_model(tiny_rnn, tiny_ckb).save_pretrained(tmp_path)
    path = tmp_path / INTERFACE_WEIGHTS_NAME
    data = path.read_bytes()
    path.write_bytes(b"\x00garbage" * 10 if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupted"):
        InterfaceModel.from_pretrained(make_host("rnn"), tiny_ckb, str(tmp_path))


def test_weights_of_another_interface_raise_value_error(tiny_rnn, tiny_cnn, tiny_ckb, make_host, tmp_path):
    get_interface_model(tiny_rnn, tiny_ckb).save_pretrained(tmp_path / "rnn")
    get_interface_model(tiny_cnn, tiny_ckb).save_pretrained(tmp_path / "cnn")
    (tmp_path / "rnn" / INTERFACE_WEIGHTS_NAME).write_bytes((tmp_path / "cnn" / INTERFACE_WEIGHTS_NAME).read_bytes())
    with pytest.raises(ValueError, match="do not fit"):
        InterfaceModel.from_pretrained(make_host("rnn"), tiny_ckb, str(tmp_path / "rnn"))


def test_corrupted_config_raises_value_error(tiny_rnn, tiny_ckb, make_host, tmp_path):
    get_interface_model(tiny_rnn, tiny_ckb).save_pretrained(tmp_path)
    (tmp_path / INTERFACE_CONFIG_NAME).write_text('{"target_module": "gru", ')
    with pytest.raises(ValueError, match="corrupted"):
        InterfaceModel.from_pretrained(make_host("rnn"), tiny_ckb, str(tmp_path))
    (tmp_path / INTERFACE_CONFIG_NAME).write_text('{"r": 8, "lora_alpha": 16}')
    with pytest.raises(ValueError, match="unknown keys"):
        InterfaceModel.from_pretrained(make_host("rnn"), tiny_ckb, str(tmp_path))


def test_missing_folder_or_weights_raise_file_not_found(tiny_rnn, tiny_ckb, make_host, tmp_path):
    with pytest.raises(FileNotFoundError, match=INTERFACE_CONFIG_NAME):
        InterfaceModel.from_pretrained(make_host("rnn"), tiny_ckb, str(tmp_path / "nowhere"))
    get_interface_model(tiny_rnn, tiny_ckb).save_pretrained(tmp_path)
    (tmp_path / INTERFACE_WEIGHTS_NAME).unlink()
    with pytest.raises(FileNotFoundError, match=INTERFACE_WEIGHTS_NAME):
        InterfaceModel.from_pretrained(make_host("rnn"), tiny_ckb, str(tmp_path))


@pytest.mark.parametrize("load", ["from_pretrained", "load_interface"])
def test_loaded_interfaces_are_frozen_unless_is_trainable(load, tiny_rnn, tiny_ckb, make_host, tmp_path):
    get_interface_model(tiny_rnn, tiny_ckb).save_pretrained(tmp_path)

    def loaded(**kwargs):
        if load == "from_pretrained":
            return InterfaceModel.from_pretrained(make_host("rnn").train(), tiny_ckb, str(tmp_path), **kwargs)
        model = get_interface_model(make_host("rnn").train(), tiny_ckb)
        model.load_interface(str(tmp_path), "loaded", **kwargs)
        return model

    model = loaded()
    block = only_wrapper(model).interfaces["default" if load == "from_pretrained" else "loaded"]
    others = [b for name, b in only_wrapper(model).interfaces.items() if b is not block]
    assert not any(p.requires_grad for p in block.parameters())  # PEFT's default: loaded for inference
    assert not model.training and not block.training and not model.base_model.training
    assert trainable_ids(model) == ids(tiny_ckb, *others)  # the shared CKB's flags are its own
    model = loaded(is_trainable=True)
    block = only_wrapper(model).interfaces["default" if load == "from_pretrained" else "loaded"]
    assert trainable_ids(model) == ids(tiny_ckb, only_wrapper(model).interfaces) and block.training


def test_several_named_interfaces(tiny_rnn, tiny_ckb, make_host, token_ids, tmp_path):
    model = get_interface_model(tiny_rnn, tiny_ckb)
    first = interface_logits(model, token_ids)
    torch.manual_seed(5)
    model.add_interface("second", InterfaceConfig())
    assert set(only_wrapper(model).interfaces) == {"default", "second"}  # one wrapper, two blocks
    assert only_wrapper(model).active_interface == "second"
    second = interface_logits(model, token_ids)
    assert not torch.allclose(first, second)
    model.set_interface("default")
    assert torch.equal(interface_logits(model, token_ids), first)
    with pytest.raises(ValueError, match="nope"):
        model.set_interface("nope")
    with pytest.raises(ValueError, match="already exists"):
        model.add_interface("second", InterfaceConfig())

    model.save_pretrained(tmp_path)
    assert (tmp_path / INTERFACE_CONFIG_NAME).is_file()
    assert (tmp_path / "second" / INTERFACE_CONFIG_NAME).is_file()
    assert (tmp_path / "second" / INTERFACE_WEIGHTS_NAME).is_file()
    loaded = InterfaceModel.from_pretrained(make_host("rnn"), tiny_ckb, str(tmp_path))
    loaded.load_interface(str(tmp_path / "second"), "second")
    assert torch.equal(interface_logits(loaded, token_ids), second)
    loaded.set_interface("default")
    assert torch.equal(interface_logits(loaded, token_ids), first)


# --------------------------------------------------------------------------------------------- default targets
def tiny_llama():
    """A tiny Llama (the architecture of SmolLM2) with a sequence-classification head."""
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    return LlamaForSequenceClassification(LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0, num_labels=2)).eval()


@pytest.mark.parametrize("kind,path,kind_of_function,window", [
    ("bert", "bert.encoder", "sequence", None),
    ("gpt2", "transformer.h", "sequence", None),
    ("llama", "model.layers", "sequence", None),
    ("rnn", "gru", "recurrent", None),
    ("cnn", "convs", "window", 3),
    ("ann", "encoder", "sequence", None),
])
def test_default_target_follows_the_model_type(kind, path, kind_of_function, window, make_host, tiny_ckb):
    host = tiny_llama() if kind == "llama" else make_host(kind)
    config = get_interface_model(host, tiny_ckb).interface_configs["default"]
    assert (config.target_module, config.function_kind, config.window_size) == (path, kind_of_function, window)
    assert TRANSFORMERS_MODELS_TO_CKB_TARGET_MODULE_MAPPING[host.config.model_type][1] == kind_of_function


def test_the_mapping_decides_the_default_target(tiny_bert, tiny_ckb, monkeypatch):
    from transformers import BertModel

    monkeypatch.setitem(TRANSFORMERS_MODELS_TO_CKB_TARGET_MODULE_MAPPING, "bert", ("encoder.layer.1", "sequence"))
    model = get_interface_model(tiny_bert, tiny_ckb)
    assert model.interface_configs["default"].target_module == "bert.encoder.layer.1"  # under the head's prefix
    assert isinstance(tiny_bert.bert.encoder.layer[1], SequenceInterfaceLayer)
    base = BertModel(tiny_bert.config).eval()  # a model without a head: the path is the entry itself
    assert get_interface_model(base, tiny_ckb).interface_configs["default"].target_module == "encoder.layer.1"


def test_an_unknown_model_type_asks_for_target_module(tiny_bert, tiny_ckb, monkeypatch):
    monkeypatch.delitem(TRANSFORMERS_MODELS_TO_CKB_TARGET_MODULE_MAPPING, "bert")
    with pytest.raises(ValueError, match=r"model_type 'bert'.*target_module.*Known model types: \[.*'gpt2'"):
        get_interface_model(tiny_bert, tiny_ckb)
    assert type(tiny_bert.bert.encoder).__name__ == "BertEncoder" and not tiny_bert._forward_pre_hooks
    config = InterfaceConfig(target_module="bert.encoder", function_kind="sequence")  # what the error asks for
    assert isinstance(get_interface_model(tiny_bert, tiny_ckb, config).base_model.bert.encoder, SequenceInterfaceLayer)


# --------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("path", ["bert.nope", "bert.encoder.layer.7", "missing.module.path"])
def test_wrong_target_module_names_the_path(path, tiny_bert, tiny_ckb):
    with pytest.raises(ValueError, match=path.replace(".", r"\.")):
        get_interface_model(tiny_bert, tiny_ckb, InterfaceConfig(target_module=path))
    assert type(tiny_bert.bert.encoder).__name__ == "BertEncoder"


@pytest.mark.parametrize("field,value,found", [("in_features", 7, 32), ("out_features", 9, 16)])
def test_widths_that_do_not_match_the_module_raise(field, value, found, tiny_rnn, tiny_ckb, token_ids):
    with torch.no_grad():
        before = tiny_rnn(input_ids=token_ids).logits
    with pytest.raises(ValueError, match=f"width {found}.*says {value}"):
        get_interface_model(tiny_rnn, tiny_ckb, InterfaceConfig(**{field: value}))
    # a failed attach leaves the host as it was
    assert type(tiny_rnn.gru) is torch.nn.GRU and not tiny_rnn._forward_pre_hooks
    with torch.no_grad():
        assert torch.equal(tiny_rnn(input_ids=token_ids).logits, before)


def test_matching_widths_are_accepted(tiny_rnn, tiny_ckb):
    model = get_interface_model(tiny_rnn, tiny_ckb, InterfaceConfig(in_features=32, out_features=16))
    assert model.interface_configs["default"].function_kind == "recurrent"


def test_unknown_function_kind_raises():
    with pytest.raises(ValueError, match="function_kind"):
        InterfaceConfig(function_kind="convolution")


def test_window_without_window_size_raises():
    with pytest.raises(ValueError, match="window_size"):
        InterfaceConfig(function_kind="window")
    assert InterfaceConfig(function_kind="window", window_size=3).level == "local"


def test_heads_that_do_not_divide_the_ckb_width_raise(tiny_gpt2, tiny_ckb):
    with pytest.raises(ValueError, match="divisible"):
        get_interface_model(tiny_gpt2, tiny_ckb, InterfaceConfig(num_heads=3))
    assert len(tiny_gpt2.transformer.h) == 2 and type(tiny_gpt2.transformer.h[0]).__name__ == "GPT2Block"
