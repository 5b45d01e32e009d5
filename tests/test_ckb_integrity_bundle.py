"""hf_ckb's own loaders (`Bundle.from_pretrained`, `hf_ckb.hub.check_bundle`) read a bundle's CKB with
`hf_ckb.ckb.load_ckb`: a changed CKB file is the error, not a stale interface to override."""

import pytest

from hf_ckb.ckb import CKBIntegrityError


def test_a_bundle_with_a_corrupted_ckb_reports_the_file_not_a_stale_interface(make_ckb, make_host, tmp_path):
    """hf_ckb's own loaders read the CKB with `load_ckb`: the changed file is the error, before any pairing check
    could blame (and offer to override) the interfaces."""
    from hf_ckb import Bundle, get_interface_model
    from hf_ckb.hub import check_bundle

    ckb = make_ckb()
    Bundle(ckb, {"rnn": get_interface_model(make_host("rnn"), ckb)}).save_pretrained(str(tmp_path))
    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-16] + bytes(b ^ 0x5A for b in data[-16:]))  # tensor data: the header stays valid
    for load in (Bundle.from_pretrained, check_bundle):
        with pytest.raises(CKBIntegrityError, match="config.json records") as err:
            load(str(tmp_path))
        assert str(weights) in str(err.value)
        assert "allow_ckb_mismatch" not in str(err.value)
