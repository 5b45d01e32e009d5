"""Students that arrive later (`hf_ckb.knowledge.students`, `hf-ckb adapt`): a never-imported network trained through
a bundle's frozen store of word embeddings, and its exact export."""

import os

import pytest
import torch
from datasets import Dataset

from hf_ckb import Bundle, CKBConfig, CKBModel, InterfaceConfig, InterfaceModel
from hf_ckb.knowledge import adapt_newcomer, export_lookup, lookup_source

from conftest import build_host, build_tokenizer, random_token_dataset

STORE = dict(num_low_level=4, low_level_size=16, high_level_size=8, hidden_size=16)


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    """A bundle whose store holds a tiny RNN's word embeddings (a 'lookup' interface), and a CNN's function."""
    torch.manual_seed(0)
    ckb = CKBModel(CKBConfig(**STORE)).eval()
    config = InterfaceConfig(design="sparse", target_module="embeddings", function_kind="lookup", num_heads=2,
                             top_k=3)
    nets = {"rnn": InterfaceModel(build_host("rnn"), ckb, config),
            "cnn": InterfaceModel(build_host("cnn"), ckb, InterfaceConfig(design="sparse", num_heads=2, top_k=3))}
    tokenizer = build_tokenizer()
    path = str(tmp_path_factory.mktemp("words"))
    Bundle(ckb, nets, tokenizers={n: tokenizer for n in nets}).save_pretrained(path)
    return path


def labelled(n, seed):
    return Dataset.from_list(random_token_dataset(n, seed, labels=True))


def test_adapt_trains_the_newcomer_through_the_frozen_store_and_exports_it_exactly(words, tmp_path):
    bundle = Bundle.from_pretrained(words)
    fingerprint = bundle.ckb.fingerprint()
    source_block = bundle.interfaces["rnn"].interface_blocks()[0].state_dict()
    host = build_host("ann")
    before = {n: p.detach().clone() for n, p in host.named_parameters() if "classifier" in n}
    out = str(tmp_path / "kb")
    net, exported = adapt_newcomer(bundle, host, labelled(32, 0), labelled(16, 1), out, steps=6, eval_steps=3,
                                   batch_size=8)
    assert bundle.ckb.fingerprint() == fingerprint  # the store is read, never written
    adopted = net.interface_blocks()[0].state_dict()
    assert all(torch.equal(adopted[k], v) for k, v in source_block.items())  # adopted whole, kept frozen
    assert any(not torch.equal(p, before[n]) for n, p in net.base_model.named_parameters() if n in before)
    ids = torch.tensor([[3, 4, 5, 6], [7, 8, 9, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    with torch.no_grad(), net.mode("interface"):
        backed = net(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(exported(input_ids=ids, attention_mask=mask).logits, backed)  # the export is exact
    saved = Bundle.from_pretrained(out)
    assert set(saved.interfaces) == set(saved.exported) == {"ckb_ann"}
    assert saved.ckb.fingerprint() == fingerprint
    torch.testing.assert_close(saved.exported["ckb_ann"](input_ids=ids, attention_mask=mask).logits, backed)


def test_export_lookup_reads_the_store_for_every_token(words):
    bundle = Bundle.from_pretrained(words)
    net = bundle.interfaces["rnn"]
    exported = export_lookup(net)
    ids = torch.arange(exported.get_input_embeddings().num_embeddings)[None]
    with torch.no_grad(), net.mode("import"):
        net(input_ids=ids)
    torch.testing.assert_close(exported.get_input_embeddings()(ids), net.records[0].prediction)


def test_lookup_source_picks_the_store_of_words_or_says_why_not(words):
    bundle = Bundle.from_pretrained(words)
    assert lookup_source(bundle) == "rnn"
    with pytest.raises(ValueError, match="bound to the reader that wrote it"):
        lookup_source(bundle, "cnn")
    with pytest.raises(ValueError, match="no interface 'gru'"):
        lookup_source(bundle, "gru")
    only_function = Bundle(bundle.ckb, {"cnn": bundle.interfaces["cnn"]})
    with pytest.raises(ValueError, match="holds no word embeddings"):
        lookup_source(only_function)


def test_a_newcomer_of_another_vocabulary_is_refused(words, tmp_path):
    from hf_ckb.networks import CNNConfig, CNNForSequenceClassification

    bundle = Bundle.from_pretrained(words)
    other = CNNForSequenceClassification(CNNConfig(vocab_size=99, embedding_size=16, window_sizes=[2], num_filters=4))
    with pytest.raises(ValueError, match="bundle's tokenizer"):
        adapt_newcomer(bundle, other, labelled(8, 0), labelled(8, 1), str(tmp_path / "x"), steps=1)
    assert not os.path.exists(tmp_path / "x")


def test_cli_adapt_trains_exports_and_refuses_a_store_of_functions(tmp_path, capsys):
    from hf_ckb.cli import main
    from hf_ckb.data import train_tokenizer
    from hf_ckb.networks import RNNConfig, RNNForSequenceClassification

    good, bad = ["a fine film", "a great cast", "good fun"], ["a dull plot", "bad acting", "an awful mess"]
    texts = [f"{w} {x}" for w in good + bad for x in ("indeed", "really", "truly", "surely")]
    reviews = tmp_path / "reviews"
    reviews.mkdir()
    for split in ("train", "validation", "test"):
        (reviews / f"{split}.csv").write_text("text,label\n" + "".join(
            f"{t},{'fresh' if t.split()[0] in ('a', 'good') and 'dull' not in t and 'mess' not in t else 'rotten'}\n"
            for t in texts))
    tokenizer = train_tokenizer(texts, vocab_size=60, min_frequency=1)
    torch.manual_seed(0)
    rnn = RNNForSequenceClassification(RNNConfig(vocab_size=len(tokenizer), embedding_size=16, hidden_size=16))
    ckb = CKBModel(CKBConfig(**STORE)).eval()
    lookup = InterfaceConfig(design="memory", target_module="embeddings", function_kind="lookup", num_heads=2)
    words, functions = str(tmp_path / "words"), str(tmp_path / "functions")
    Bundle(ckb, {"rnn": InterfaceModel(rnn, ckb, lookup)}, tokenizers={"rnn": tokenizer}).save_pretrained(words)
    other = RNNForSequenceClassification(RNNConfig(vocab_size=len(tokenizer), embedding_size=16, hidden_size=16))
    Bundle(ckb, {"rnn": InterfaceModel(other, ckb, InterfaceConfig(design="memory", num_heads=2))},
           tokenizers={"rnn": tokenizer}).save_pretrained(functions)
    out = str(tmp_path / "kb-cnn")
    argv = ["adapt", "--bundle", words, "--architecture", "cnn", "--dataset", str(reviews), "--output-dir", out,
            "--label-fraction", "0.5", "--steps", "4", "--eval-steps", "2", "--max-length", "8"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if line.startswith("cnn "))
    assert row.split()[1:3] == ["12", "test"]  # half of the 24 labelled examples
    backed, alone = (float(x) for x in row.split()[3:5])
    assert backed == alone  # the export is exact
    saved = Bundle.from_pretrained(out)
    assert set(saved.interfaces) == set(saved.exported) == {"cnn"}
    assert saved.exported["cnn"].config.embedding_size == 16
    assert main(argv[:2] + [functions] + argv[3:]) == 2
    assert "holds no word embeddings" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(argv[:-6] + ["--label-fraction", "1.5"])
    assert exit_.value.code == 2 and "expected a fraction in (0, 1]" in capsys.readouterr().err
