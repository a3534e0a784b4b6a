"""Graph-network building blocks (glassgen.predictors.gnn): periodic graphs against a brute-force search, exact crops,
symmetries, BOTAN's edge target and loss, batching, parameter counts. Small random configurations only."""

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from glassgen.dynamics.isoconfig import isoconfigurational_labels
from glassgen.errors import InvalidInputError
from glassgen.predictors.gnn import (BapstGNN, BotanGNN, SE3GNN, assert_invariant, botan_loss, crop,
                                     cubic_symmetries, edge_targets, periodic_graph, random_cubic_symmetry,
                                     transform_graph)
from glassgen.predictors.gnn.graph import graph_of
from glassgen.systems.initial import random_start

#: A small SE(3) network: the symmetries are architectural, so a narrow, shallow one tests them at a fraction of the
#: cost of the default.
SMALL_SE3 = dict(hidden="8x0e + 4x1o + 4x2e", n_layers=2, radial_width=8)


def configuration(dim: int, n: int, seed: int = 0, dtype=torch.float64, inherent: bool = True, cutoff: float = 2.0):
    """Random particles at density 1.2, some given by unwrapped coordinates, 30 % of species 1, and their graph."""
    generator = torch.Generator().manual_seed(seed)
    box = torch.full((dim,), (n / 1.2) ** (1 / dim), dtype=torch.float64)
    x = torch.rand(n, dim, generator=generator, dtype=torch.float64) * box
    x = x + box * torch.randint(-2, 3, (n, dim), generator=generator)
    types = (torch.rand(n, generator=generator) < 0.3).long()
    x_inherent = x + 0.1 * torch.randn(n, dim, generator=generator, dtype=torch.float64) if inherent else None
    return periodic_graph(x.to(dtype), types, box, cutoff, n_species=2,
                          inherent_positions=None if x_inherent is None else x_inherent.to(dtype))


def brute_force(x: np.ndarray, box: np.ndarray, cutoff: float):
    """Every ordered pair (receiver i, sender j) closer than ``cutoff`` at the minimum image, and x_j - x_i."""
    d = x[None, :, :] - x[:, None, :]
    d -= box * np.round(d / box)
    close = (np.linalg.norm(d, axis=-1) < cutoff) & ~np.eye(len(x), dtype=bool)
    i, j = np.nonzero(close)
    return i, j, d[i, j]


def models(dim: int, dtype):
    torch.manual_seed(0)
    nets = [BapstGNN(2, dim, n_outputs=2), BotanGNN(2, dim, n_outputs=2)]
    if dim == 3:
        nets += [SE3GNN(2, 2, dtype=dtype, **SMALL_SE3), SE3GNN(2, 2, inherent=True, dtype=dtype, **SMALL_SE3)]
    return [net.to(dtype) for net in nets]


def node_output(out):
    return out if isinstance(out, torch.Tensor) else out.node


@pytest.mark.parametrize("dim, n", [(2, 60), (3, 150)])
def test_graph_is_the_brute_force_minimum_image_graph(dim, n):
    data = configuration(dim, n)
    box = data.box[0].numpy()
    i, j, d = brute_force(data.pos.numpy(), box, 2.0)
    sender, receiver = data.edge_index.numpy()
    assert set(zip(receiver, sender)) == set(zip(i, j)) and len(sender) == len(i)
    order = np.lexsort((sender, receiver))  # the brute force lists (i, j) in this order
    np.testing.assert_array_equal(receiver[order], i)
    np.testing.assert_allclose(data.edge_vec.numpy()[order], d, rtol=0, atol=1e-12)
    assert np.abs(data.pos.numpy()[j] - data.pos.numpy()[i] - d).max() > box[0] / 2  # pairs across the box edge
    # The inherent-state vectors of the same pairs are their own minimum images.
    xi = data.pos_inherent.numpy()
    di = xi[j] - xi[i]
    np.testing.assert_allclose(data.edge_vec_inherent.numpy()[order], di - box * np.round(di / box), atol=1e-12)
    # float32 positions give the same edges.
    assert torch.equal(configuration(dim, n, dtype=torch.float32).edge_index, data.edge_index)


def test_graph_refuses_what_it_cannot_represent():
    data = configuration(3, 96)
    with pytest.raises(InvalidInputError, match="twice the cutoff"):
        periodic_graph(data.pos, data.types, data.box[0], cutoff=2.5)
    with pytest.raises(InvalidInputError, match="n_species"):
        periodic_graph(data.pos, data.types + 1, data.box[0], n_species=2)
    with pytest.raises(InvalidInputError, match="shape"):
        periodic_graph(data.pos, data.types, data.box[0], inherent_positions=data.pos[:-1])
    with pytest.raises(InvalidInputError, match="model.to"):
        BapstGNN()(configuration(3, 96, dtype=torch.float64))
    with pytest.raises(InvalidInputError, match="3D only"):
        SE3GNN(**SMALL_SE3).double()(configuration(2, 40))
    with pytest.raises(InvalidInputError, match="inherent_positions"):
        SE3GNN(inherent=True, dtype=torch.float64, **SMALL_SE3)(configuration(3, 96, inherent=False))


@pytest.mark.parametrize("dim", [2, 3])
def test_box_symmetries_map_graphs_onto_graphs(dim):
    """What augmentation relies on: a symmetry of the box maps the graph to the graph of the mapped configuration."""
    data = configuration(dim, 40 if dim == 2 else 96)
    maps = cubic_symmetries(data.box[0])
    assert len(maps) == (8 if dim == 2 else 48) and len(torch.unique(maps.round(), dim=0)) == len(maps)
    assert len(cubic_symmetries(data.box[0] * torch.arange(1, dim + 1))) == 2 ** dim  # a box of unequal edges
    for matrix in maps:
        mapped = transform_graph(data, matrix)
        rebuilt = graph_of(data, data.pos @ matrix.T, inherent_positions=data.pos_inherent @ matrix.T)
        assert torch.equal(mapped.edge_index, rebuilt.edge_index)
        torch.testing.assert_close(mapped.edge_vec, rebuilt.edge_vec, rtol=0, atol=1e-12)
        torch.testing.assert_close(mapped.edge_vec_inherent, rebuilt.edge_vec_inherent, rtol=0, atol=1e-12)
    augmented = random_cubic_symmetry(data, torch.Generator().manual_seed(1))
    assert any(torch.equal(augmented.edge_vec, data.edge_vec @ m.T) for m in maps)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("dim", [2, 3])
def test_every_network_keeps_its_symmetries(dim, dtype):
    """Translations and relabellings for all; the 48 (8) box symmetries and random rotations for SE3GNN (3D only).
    Bapst and BOTAN see raw vectors: a box symmetry changes their outputs, which is why they train with
    augmentation, and shows that the check can fail."""
    data = configuration(dim, 40 if dim == 2 else 96, dtype=dtype)
    for net in models(dim, dtype):
        worst = assert_invariant(net, data)
        assert set(worst) == set(net.invariances)
        if not isinstance(net, SE3GNN):
            with pytest.raises(AssertionError, match="box symmetry"):
                assert_invariant(net, data, groups=("cubic",))


def test_default_se3_network_is_rotation_invariant_in_float64():
    data = configuration(3, 96)
    torch.manual_seed(0)
    assert_invariant(SE3GNN(inherent=True, dtype=torch.float64), data, groups=("rotations",), samples=2)


@pytest.mark.parametrize("net", ["bapst", "botan", "se3"])
def test_crop_gives_the_full_graph_outputs_on_its_core(net):
    """Outputs of the loss particles (and, for BOTAN, of the edges they receive) equal the full graph's to 1e-10;
    a crop one hop too small does not. Bapst and BOTAN: 7 steps in 2D; SE3GNN: 2 layers in 3D, inherent input."""
    torch.manual_seed(0)
    if net == "se3":
        data, model, steps = configuration(3, 600, cutoff=1.2), SE3GNN(inherent=True, dtype=torch.float64,
                                                                        **SMALL_SE3), 2
    else:
        model = (BapstGNN if net == "bapst" else BotanGNN)(2, 2, n_outputs=2).double()
        data, steps = configuration(2, 1200, cutoff=1.2), model.n_steps
        # He initialisation keeps signals alive through 7 steps, as in a trained network; PyTorch's default shrinks
        # them ~6x per layer, so that the error of a crop too small would fall below 1e-10 and go unseen.
        for layer in model.modules():
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.kaiming_normal_(layer.weight)
    model.requires_grad_(False)
    full = model(data)
    for n_steps, exact in ((steps, True), (steps - 1, False)):
        piece = crop(data, [3, 17], n_steps, core_hops=1)
        assert 2 < int(piece.loss_mask.sum()) < piece.num_nodes < data.num_nodes / 2
        out = model(piece)
        deviation = (node_output(out) - node_output(full)[piece.particle_id])[piece.loss_mask].abs().max()
        if net == "botan":
            edge = (out.edge - full.edge[piece.edge_id])[piece.edge_loss_mask].abs().max()
            deviation = max(deviation, edge)
        assert (float(deviation) < 1e-10) == exact, (n_steps, float(deviation))
    torch.testing.assert_close(piece.edge_vec, data.edge_vec[piece.edge_id], rtol=0, atol=0)
    assert torch.equal(piece.particle_id[piece.edge_index], data.edge_index[:, piece.edge_id])


def test_batches_give_each_graph_its_own_outputs():
    graphs = [configuration(3, 96, seed=1), configuration(3, 120, seed=2)]
    batch = Batch.from_data_list(graphs)
    for net in models(3, torch.float64):
        together = net(batch)
        alone = [net(g) for g in graphs]
        torch.testing.assert_close(node_output(together), torch.cat([node_output(a) for a in alone]))
        if isinstance(net, BotanGNN):
            torch.testing.assert_close(together.edge, torch.cat([a.edge for a in alone]))


def test_botan_edge_target_and_loss():
    system = random_start("ka3d", 160, seed=3)
    labels = isoconfigurational_labels(system, 0.8, [0.02, 0.05], n_replicas=2, edges=True)
    data = periodic_graph(system.positions, system.types, system.box)
    target = edge_targets(data, labels.edges, labels.edge_change)
    assert target.shape == (data.num_edges, 2) and data.num_edges == 2 * len(labels.edges)
    value = {frozenset(p): labels.edge_change[:, k] for k, p in enumerate(labels.edges.tolist())}
    sender, receiver = data.edge_index.tolist()
    expected = np.stack([value[frozenset((s, r))] for s, r in zip(sender, receiver)])
    np.testing.assert_array_equal(target.numpy(), expected)
    with pytest.raises(InvalidInputError, match="no edge label"):
        edge_targets(data, labels.edges[1:], labels.edge_change[:, 1:])

    torch.manual_seed(0)
    out = BotanGNN(n_outputs=2).double()(data)
    node_target = torch.rand(data.num_nodes, 2, dtype=torch.float64)
    node_mse, edge_mse = (out.node - node_target).square().mean(), (out.edge - target).square().mean()
    torch.testing.assert_close(botan_loss(out, node_target, target), 0.4 * node_mse + 0.6 * edge_mse)
    torch.testing.assert_close(botan_loss(out, None, target, p=0.0), edge_mse)  # edge-only pretraining
    mask = data.types == 0
    torch.testing.assert_close(botan_loss(out, node_target, None, p=1.0, node_mask=mask),
                               (out.node - node_target)[mask].square().mean())
    with pytest.raises(InvalidInputError, match="p weighs"):
        botan_loss(out, node_target, target, p=1.5)


def test_parameter_counts_against_the_published_ones():
    """BOTAN's PyG code (scalar type input, one decoder for nodes and edges) has 54,209 parameters."""
    assert sum(p.numel() for p in BotanGNN(n_species=1).parameters()) == 54_209
    assert "parameters=54,209, published 54,209" in repr(BotanGNN(n_species=1))
    assert "published 52,660" in repr(SE3GNN(**SMALL_SE3))
