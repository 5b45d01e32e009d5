"""Helping a network that arrives after the CKB was built find what the store holds.

Why: a newcomer's interface (a fresh query map over a frozen store) can address the store in any way it learns, so
when it starts from a random query map it reads the imported store at arbitrary slots and gains nothing over a random
store (`benchmarks/knowledge`: reuse through the imported `memory` and `sparse` stores was within 0.8 points of a
random one). What the store holds is only reachable at the addresses the importing interface used. The newcomer is
therefore anchored to them:

- `copy_input_embeddings`: the newcomer reads its tokens with the source host's word embeddings (the same tokenizer),
  so its function's input rows live in the space the source's interface was trained on;
- `warm_start_reader`: the newcomer's query starts as the source interface's query *of its tokens*. A function's input
  row is made of token blocks (a recurrent cell's `[x_t ; h_{t-1}]`: one block, then the state; a CNN window
  `[x_t .. x_{t+w-1}]`: w blocks; a Transformer layer's row: one block). The source's token query `A` (the sum of its
  blocks' maps: the query of a row whose blocks all hold one token) becomes each of the newcomer's w blocks as `A / w`
  (its query of the mean token), its state block is zeroed, and the bias is the source's. So before training the
  newcomer reads the slots the source read for the same tokens, whatever is stored there.

Both are an initialisation; the newcomer's interface still trains. The control is the same procedure on a random
store: the anchored query then reads random slots.

- `adopt_interface`: where both networks have the *same* function (a `lookup` of one tokenizer's word embeddings),
  the newcomer takes the source's interface whole (reader and decoder), to be kept frozen: what it reads is then
  exactly what the store holds for each token, and a random store gives it nothing.

Measured (`benchmarks/knowledge`, a newcomer on a tenth of the labels, 3 seeds): a warm-started reader over the store
of another network's function gained -1.3 to +1.0 points over a random store (`few_labels`, `small-sparse`); an
adopted lookup over the store of word embeddings gained +10.6 to +19.0 (`lookup`, `ci`).
"""

import torch
from torch import nn

from ..interface import InterfaceModel
from ..interface.layer import RecurrentInterfaceLayer, WindowInterfaceLayer
from ..interface.targets import input_embeddings


def copy_input_embeddings(target: nn.Module, source: nn.Module) -> None:
    """Copies `source`'s input (word) embeddings into `target`'s, in place. Both must declare them
    (`get_input_embeddings`) with the same shape: the same tokenizer and width."""
    target_emb, source_emb = (_input_embeddings(m) for m in (target, source))
    if target_emb.weight.shape != source_emb.weight.shape:
        raise ValueError(f"Input embeddings differ in shape: target {tuple(target_emb.weight.shape)}, source "
                         f"{tuple(source_emb.weight.shape)}; both networks must use one tokenizer and one width.")
    with torch.no_grad():
        target_emb.weight.copy_(source_emb.weight)


def _input_embeddings(model: nn.Module) -> nn.Embedding:
    model = model.base_model if isinstance(model, InterfaceModel) else model
    embeddings = input_embeddings(model)
    if embeddings is None:
        raise TypeError(f"{type(model).__name__} declares no input embeddings (get_input_embeddings).")
    return embeddings


def warm_start_reader(target: InterfaceModel, source: InterfaceModel) -> None:
    """Sets the query map of `target`'s interface so that it queries the store as `source`'s interface does for the
    same tokens (see the module docstring), in place. Both must hold one interface each, of a design whose block has
    a `query` map (`memory`, `sparse`) with the same output width, and token blocks of the same width."""
    (t_layer, t_block), (s_layer, s_block) = (_single_reader(net, role) for net, role in
                                              ((target, "target"), (source, "source")))
    if t_block.query.out_features != s_block.query.out_features:
        raise ValueError(f"The two interfaces' queries differ in width ({t_block.query.out_features} vs "
                         f"{s_block.query.out_features}): they must read stores of one width with as many heads.")
    t_blocks, t_width = _token_blocks(t_layer, t_block)
    s_blocks, s_width = _token_blocks(s_layer, s_block)
    if t_width != s_width:
        raise ValueError(f"Token rows differ in width (target {t_width}, source {s_width}).")
    source_weight = s_block.query.weight
    token_query = sum(source_weight[:, b * s_width:(b + 1) * s_width] for b in range(s_blocks))
    with torch.no_grad():
        weight = torch.zeros_like(t_block.query.weight)  # the state block (a recurrent cell's h_{t-1}) stays 0
        for b in range(t_blocks):
            weight[:, b * t_width:(b + 1) * t_width] = token_query / t_blocks
        t_block.query.weight.copy_(weight)
        t_block.query.bias.copy_(s_block.query.bias)


def _single_reader(net: InterfaceModel, role: str):
    layer, block = _single_block(net, role)
    if not isinstance(getattr(block, "query", None), nn.Linear):
        raise ValueError(f"The {role}'s interface ({type(block).__name__}) has no query map to warm-start: use the "
                         "'memory' or 'sparse' design.")
    return layer, block


def _token_blocks(layer, block) -> tuple[int, int]:
    """`(number of token blocks, token width)` of the rows the interface `block` of wrapper `layer` reads."""
    width = block.query.in_features
    if isinstance(layer, RecurrentInterfaceLayer):  # [x_t ; h_{t-1}]: the state is as wide as the output
        return 1, width - block.out_proj.out_features
    if isinstance(layer, WindowInterfaceLayer):
        return layer.window_size, width // layer.window_size
    return 1, width


def adopt_interface(target: InterfaceModel, source: InterfaceModel) -> None:
    """Copies `source`'s interface block (its query, norm and output maps) into `target`'s, in place: for a function
    the two networks share (e.g. a `lookup` of the same tokenizer's word embeddings into the same width). Both must
    hold one interface each, of the same design and shapes. Train the newcomer with the interface frozen
    (`finetune_interface_model(..., train_interface=False)`) to use the store as the source wrote it."""
    (t_layer, t_block), (s_layer, s_block) = (_single_block(net, role) for net, role in
                                              ((target, "target"), (source, "source")))
    if type(t_layer) is not type(s_layer) or type(t_block) is not type(s_block):
        raise ValueError(f"Only the same function and design can be adopted: target {type(t_layer).__name__} / "
                         f"{type(t_block).__name__}, source {type(s_layer).__name__} / {type(s_block).__name__}.")
    source_state = s_block.state_dict()
    shapes = {k: tuple(v.shape) for k, v in t_block.state_dict().items()}
    if shapes != {k: tuple(v.shape) for k, v in source_state.items()}:
        raise ValueError("The two interfaces differ in shape: the functions' widths or the CKBs differ.")
    t_block.load_state_dict(source_state)


def _single_block(net: InterfaceModel, role: str):
    pairs = [(layer, block) for layer in net.interface_layers() for block in layer.interfaces.values()]
    if len(pairs) != 1:
        raise ValueError(f"The {role} must hold exactly one interface, found {len(pairs)}.")
    return pairs[0]
