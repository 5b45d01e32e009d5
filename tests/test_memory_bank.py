"""Memory-bank initialisation (`hf_ckb.training.memory_bank`, issue 11; TRELM §3.2): the CKB rows a new network
will use, and its query and output maps, start from its teacher's activations."""

import pytest
import torch
from datasets import Dataset

from conftest import interface_fidelity as fidelity
from hf_ckb import InterfaceConfig, InterfaceModel
from hf_ckb.lineage import read_lineage
from hf_ckb.pipeline import import_networks
from hf_ckb.training.memory_bank import (initialise_from_teacher, initialise_memory_bank, kmeans, record_function,
                                         row_shares)


def data_of(make_token_dataset, n: int = 24, labels: bool = False):
    return Dataset.from_list(make_token_dataset(n, 0, labels=labels))


@pytest.fixture
def memory_rnn(make_host, make_ckb):
    torch.manual_seed(0)
    ckb = make_ckb()
    return InterfaceModel(make_host("rnn").eval(), ckb, InterfaceConfig(design="memory")), ckb


def test_records_one_input_row_per_real_output_row(memory_rnn, tiny_tokenizer, make_token_dataset):
    net, _ = memory_rnn
    data = data_of(make_token_dataset)
    x, y = record_function(net, tiny_tokenizer, data)
    (block,) = net.interface_blocks()
    real = sum(len(ids) for ids in data["input_ids"])
    assert len(x) == len(y) == real  # padding is left out
    assert x.shape[1] == block.query.in_features and y.shape[1] == block.out_proj.out_features
    assert len(record_function(net, tiny_tokenizer, data, rows=5)[0]) == 5


def test_initialising_from_the_teacher_starts_the_interface_close_to_its_function(memory_rnn, tiny_tokenizer,
                                                                                   make_token_dataset):
    net, ckb = memory_rnn
    data = data_of(make_token_dataset)
    before = fidelity(net, tiny_tokenizer, data)
    written = initialise_from_teacher(net, ckb, tiny_tokenizer, data)
    assert written == {"low": ckb.low_level.shape[0] * ckb.low_level.shape[1], "high": ckb.high_level.shape[0]}
    after = fidelity(net, tiny_tokenizer, data)
    assert after > 0.5 and after > before + 0.3, (before, after)


def test_only_the_given_rows_are_written(memory_rnn, tiny_tokenizer, make_token_dataset):
    net, ckb = memory_rnn
    low, high = ckb.low_level.detach().clone(), ckb.high_level.detach().clone()
    share = row_shares(ckb, 2)[1]
    x, y = record_function(net, tiny_tokenizer, data_of(make_token_dataset))
    assert initialise_memory_bank(net, ckb, x, y, share) == {"low": int(share["low"].sum()),
                                                             "high": int(share["high"].sum())}
    assert torch.equal(ckb.low_level[~share["low"]], low[~share["low"]])  # the other rows bit for bit
    assert torch.equal(ckb.high_level[~share["high"]], high[~share["high"]])
    assert not torch.equal(ckb.low_level[share["low"]], low[share["low"]])
    assert float(ckb.low_level.detach().std()) == pytest.approx(float(low.std()), rel=0.5)  # the CKB's spread


def test_row_shares_are_disjoint_and_cover_the_ckb(make_ckb):
    ckb = make_ckb()
    shares = row_shares(ckb, 3)
    for level in ("low", "high"):
        counts = torch.stack([s[level] for s in shares]).sum(0)
        assert bool((counts == 1).all())


def test_kmeans_finds_separated_clusters():
    torch.manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = torch.cat([c + 0.1 * torch.randn(50, 2) for c in centres])
    found = kmeans(points, 3, seed=1)
    assert torch.cdist(centres, found).min(1).values.max() < 0.5


def test_other_designs_are_refused(make_host, make_ckb, tiny_tokenizer, make_token_dataset):
    net = InterfaceModel(make_host("rnn").eval(), make_ckb(), InterfaceConfig(design="paper"))
    with pytest.raises(ValueError, match="'memory' interface design"):
        record_function(net, tiny_tokenizer, data_of(make_token_dataset))


def test_too_few_recorded_rows_are_refused(memory_rnn, tiny_tokenizer, make_token_dataset):
    net, ckb = memory_rnn
    x, y = record_function(net, tiny_tokenizer, data_of(make_token_dataset), rows=3)
    with pytest.raises(ValueError, match="at least as many recorded rows"):
        initialise_memory_bank(net, ckb, x, y)


def test_import_networks_with_a_memory_bank_records_it(make_host, make_ckb, tiny_tokenizer, make_token_dataset,
                                                       tmp_path):
    data = data_of(make_token_dataset, labels=True)
    torch.manual_seed(0)
    hosts = {"rnn": make_host("rnn").eval()}
    module = import_networks(hosts, {"rnn": tiny_tokenizer}, {"rnn": data}, {"rnn": data}, str(tmp_path / "kb"),
                             ckb=make_ckb(), interface_configs={"rnn": InterfaceConfig(design="memory")}, steps=2,
                             eval_steps=1, batch_size=8, memory_bank=True)
    (step,) = read_lineage(str(tmp_path / "kb"))
    assert step["memory_bank"] is True and step["seconds"] > 0
    assert fidelity(module.networks["rnn"], tiny_tokenizer, data) > 0.5
