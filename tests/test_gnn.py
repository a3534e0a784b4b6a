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


def test_core_of_a_crop_is_all_it_gives_exactly():
    """The core holds the particles within core_hops of the centres, more where the crop reaches around the box, and
    every particle of a crop that is the whole configuration."""
    data = configuration(2, 1200, cutoff=1.2)
    piece = crop(data, [3], 3, core_hops=1)
    assert bool(piece.loss_mask[piece.hops <= 1].all()) and not bool(piece.loss_mask.all())
    whole = crop(configuration(3, 150), [0], 3)
    assert whole.num_nodes == 150 and bool(whole.loss_mask.all()) and int((whole.hops == 0).sum()) == 1


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


# -- the graph predictors (bapst, botan, se3): what the contract test does not cover --------------------------------

def small_data(m: int = 4, seed: int = 0, **options):
    """Labelled KA3D configurations of 160 particles with a BOTAN edge target (see test_predictor_contract)."""
    from tests.test_predictor_contract import with_edge_target
    from tests.test_predictors import synthetic

    return with_edge_target(synthetic(n=160, m=m, seed=seed, **options))


def quick(name, **hyper):
    from tests.test_predictor_contract import quick

    return quick(name, **hyper)


def write_replica_file(path, initial, replicas, box, types, wrapped):
    """One configuration's replicas in the BOTAN layout (unwrapped) or the GlassBench trajectories layout (wrapped,
    1-based types)."""
    if wrapped:
        np.savez(path, box=box, types=types + 1, initial_positions=initial % box, positions=replicas % box)
    else:
        np.savez(path, types=types, initial_positions=initial, positions=replicas)


@pytest.mark.parametrize("wrapped", [False, True])
def test_replica_files_give_the_botan_edge_target(wrapped, tmp_path):
    """BOTAN (unwrapped) and GlassBench (wrapped) replica files read with the edge target of `glassgen label
    --edges`: every pair closer than 2.0 at t = 0, with < |r_ij(t)| - |r_ij(0)| > over replicas equal to a brute
    force over minimum-image distances; configurations with fewer pairs are padded with (-1, -1)."""
    from glassgen.io import load

    rng = np.random.default_rng(0)
    expected = []
    system = random_start("ka3d", 300, batch=2, seed=3)
    box, types = system.box.numpy(), system.types.numpy()
    for k, x0 in enumerate(system.positions.numpy(), start=1):
        x0 = x0 + box * rng.integers(-1, 2, x0.shape)  # unwrapped coordinates
        # Moves small enough for the pairs' minimum images at t to be those of t = 0, which the brute force assumes.
        replicas = x0 + 0.15 * rng.standard_normal((3, *x0.shape))
        write_replica_file(tmp_path / f"isoconfig_N300T0.44_{k}_tc07.npz", x0, replicas, box, types, wrapped)
        i, j, d0 = brute_force(x0, box, 2.0)
        upper = i < j
        i, j, d0 = i[upper], j[upper], d0[upper]
        dt = replicas[:, j] - replicas[:, i]
        dt -= box * np.round(dt / box)
        expected.append({(a, b): c for a, b, c in zip(i, j, (np.linalg.norm(dt, axis=-1)
                                                                 - np.linalg.norm(d0, axis=-1)).mean(0))})
    data = load(tmp_path)
    pairs, change = data.extras["edge_pairs"], data.extras["edge_change"]
    assert pairs.shape[:2] == change[:, 0].shape and change.shape[1] == 1 == len(data.times)
    for k, truth in enumerate(expected):
        real = pairs[k, :, 0] >= 0
        assert (pairs[k, ~real] == -1).all() and (change[k, :, ~real] == 0).all()
        got = {tuple(sorted(p)): c for p, c in zip(pairs[k, real].tolist(), change[k, 0, real])}
        assert got.keys() == truth.keys()
        np.testing.assert_allclose([got[p] for p in truth], list(truth.values()), rtol=0, atol=1e-12)
    assert (pairs[:, :, 0] < 0).any()  # the two configurations differ in number of pairs


def test_real_botan_file_labels_every_graph_edge():
    """The edge target computed from the BOTAN replicas covers exactly the edges of the network's graph."""
    from glassgen.io import load
    from tests.conftest import BOTAN_DIR

    data = load(BOTAN_DIR / "isoconfig_N4096T0.44_1_tc07.npz")
    pairs, change = data.extras["edge_pairs"][0], data.extras["edge_change"][0]
    graph = periodic_graph(torch.from_numpy(data.positions[0]), torch.from_numpy(data.types), data.box)
    target = edge_targets(graph, pairs, change)
    assert graph.num_edges == 2 * len(pairs) and target.shape == (graph.num_edges, 1)
    assert 0.3 < float(target.mean()) < 0.6  # pairs separate on average by t = tau_alpha


def test_botan_refuses_data_without_edge_target():
    from dataclasses import replace

    data = small_data(2)
    with pytest.raises(InvalidInputError, match="lacks: label it with glassgen label --edges.*or train bapst"):
        quick("botan").fit(replace(data, extras={}))


def test_training_counts_the_core_of_crops_around_scored_centres(monkeypatch):
    """Crop centres are scored particles (species 0), ``crop_centres`` of them; the loss is the MSE over the scored
    particles of the crops' cores, and BOTAN adds the edges those receive."""
    from glassgen.predictors.gnn import training

    crops, losses = [], []
    cut, loss_of = training.crop, training.loss_of

    def recording_crop(graph, centres, n_steps, core_hops):
        piece = cut(graph, centres, n_steps, core_hops)
        crops.append((graph, centres, piece))
        return piece

    def recording_loss(output, batch, node_weight):
        loss = loss_of(output, batch, node_weight)
        if "loss_mask" in batch:  # a training step (validation sees whole configurations)
            losses.append((output, batch, node_weight, loss))
        return loss

    monkeypatch.setattr(training, "crop", recording_crop)
    monkeypatch.setattr(training, "loss_of", recording_loss)
    quick("botan", n_steps=1, crop_centres=3, core_hops=0, epochs=1).fit(small_data(3))
    assert crops and all(len(centres) == 3 and bool((graph.types[centres] == 0).all()) for graph, centres, _ in crops)
    for output, batch, node_weight, loss in losses:
        scored = batch.loss_mask & (batch.types == 0)
        assert 0 < scored.sum() < (batch.types == 0).sum()  # the crops are smaller than the configurations
        node = (output.node[scored] - batch.y[scored]).square().mean()
        edge = (output.edge[batch.edge_loss_mask] - batch.y_edge[batch.edge_loss_mask]).square().mean()
        torch.testing.assert_close(loss, node_weight * node + (1 - node_weight) * edge)
    assert [w for _, _, w, _ in losses] == [0.0, 0.4]  # one step of edge pretraining, then one of both


def scripted_validation(monkeypatch, losses):
    """Make the validation losses of the training ``losses``, in order."""
    from glassgen.predictors.gnn.training import Trainer

    script = iter(losses)
    monkeypatch.setattr(Trainer, "_validate", lambda self: next(script))


def test_early_stopping_and_budget_keep_the_best_state(monkeypatch):
    """Validation losses 1, 0.5, 2, 3 and patience 2: training stops after epoch 4 with the state of epoch 2, which a
    training of 2 epochs ends with; a budget that runs out in epoch 4 (loss 3 then) keeps it too; a real budget of a
    few microseconds stops after one step."""
    from glassgen.predictors.gnn.training import Trainer

    data = small_data(5)
    hyper = {"learning_rate": 1e-2, "patience": 2, "crops_per_configuration": 2}
    scripted_validation(monkeypatch, [1.0, 0.5])
    two = quick("bapst", epochs=2, **hyper).fit(data)
    scripted_validation(monkeypatch, [1.0, 0.5, 2.0, 3.0])
    early = quick("bapst", epochs=10, **hyper).fit(data)
    record = early.provenance_["training"]
    assert record["stopped"] == "patience" and record["epochs"] == {"training": 4} and record["best_epoch"] == 2
    np.testing.assert_array_equal(early.predict(data), two.predict(data))
    scripted_validation(monkeypatch, [1.0, 0.5, 0.25])  # the state of epoch 3 differs
    assert not np.array_equal(quick("bapst", epochs=3, **hyper).fit(data).predict(data), two.predict(data))

    epoch = Trainer._epoch
    monkeypatch.setattr(Trainer, "_epoch", lambda self, phase, out_of_time, bar: epoch(
        self, phase, lambda: self.state["epoch"] >= 3, bar))
    scripted_validation(monkeypatch, [1.0, 0.5, 2.0, 3.0])
    budget = quick("bapst", epochs=10, **hyper).fit(data)
    assert budget.provenance_["training"]["stopped"] == "budget"
    np.testing.assert_array_equal(budget.predict(data), two.predict(data))
    monkeypatch.undo()
    timed = quick("bapst", epochs=10, budget_minutes=1e-7, **hyper).fit(data).provenance_["training"]
    assert timed["stopped"] == "budget" and timed["epochs"] == {"training": 0} and timed["best_valid_loss"] > 0


def test_checkpoint_resumes_exactly(monkeypatch, tmp_path):
    """A BOTAN training stopped after its second epoch (the first after edge pretraining) and run again resumes from
    its checkpoint and ends bit for bit where an uninterrupted one does; a finished checkpoint returns at once; one
    written with other settings is refused."""
    from glassgen.predictors.gnn.training import Trainer

    data = small_data(4)
    hyper = {"epochs": 3, "pretrain_epochs": 1, "crops_per_configuration": 2}
    expected = quick("botan", **hyper).fit(data).predict(data)
    path = str(tmp_path / "botan.ckpt")
    save, saved = Trainer._save, []

    def interrupted(self):
        save(self)
        saved.append(self.state["epoch"])
        if len(saved) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        quick("botan", checkpoint=path, **hyper).fit(data)
    monkeypatch.undo()
    resumed = quick("botan", checkpoint=path, **hyper).fit(data)
    assert resumed.provenance_["training"]["resumed_at"] == {"phase": 1, "epoch": 1}
    np.testing.assert_array_equal(resumed.predict(data), expected)
    again = quick("botan", checkpoint=path, **hyper).fit(data)
    assert again.provenance_["training"]["resumed_at"] == {"phase": 1, "epoch": 3}
    np.testing.assert_array_equal(again.predict(data), expected)
    with pytest.raises(InvalidInputError, match="checkpoint .* other learning_rate; train with the same settings"):
        quick("botan", checkpoint=path, learning_rate=0.5, **hyper).fit(data)
    with pytest.raises(InvalidInputError, match="other data"):
        quick("botan", checkpoint=path, **hyper).fit(small_data(4, seed=9))


def test_refit_decoder_keeps_the_trunk():
    """Transfer learning: at another temperature (labels doubled here), only the decoder changes, the labels' scale
    is the new data's, and the predictions follow; an unfitted predictor refuses."""
    from dataclasses import replace

    data = small_data(4)
    with pytest.raises(InvalidInputError, match="not fitted yet, so it cannot refit its decoder"):
        quick("se3").refit_decoder(data)
    model = quick("se3", epochs=3).fit(data)
    before = {k: v.clone() for k, v in model.network_.state_dict().items()}
    colder = replace(data, propensity=2 * data.propensity + 1)
    model.refit_decoder(colder)
    after = model.network_.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("decoder.") for k in changed)
    np.testing.assert_allclose(model.y_mean_, 2 * data.propensity[:, :, data.types == 0].mean(axis=(0, 2)) + 1)
    assert "decoder_refit" in model.provenance_ and all(p.requires_grad for p in model.network_.parameters())
    with pytest.raises(InvalidInputError, match="model: ka3d-sf vs ka3d"):
        model.refit_decoder(replace(colder, model="ka3d-sf"))


def test_se3_minimises_to_inherent_states_when_missing():
    from dataclasses import replace

    from glassgen.dynamics.minimization import inherent_states

    data = small_data(3)
    assert data.inherent_positions is None
    model = quick("se3").fit(data)
    np.testing.assert_array_equal(model.predict(data), model.predict(inherent_states(data)))
    assert not np.array_equal(model.predict(data), model.predict(replace(data, inherent_positions=data.positions)))
    with pytest.raises(InvalidInputError, match="se3 is three-dimensional"):
        quick("se3").fit(small_data(2, model="ka2d"))


def test_shared_training_learns_a_known_law():
    """The shared training (crops, standardisation, early stopping) learns neighbour counts: an SE(3) network of
    one layer on thermal positions reaches Pearson > 0.8 on new configurations."""
    from tests.test_predictors import synthetic

    train, test = synthetic(n=160, m=6, seed=0), synthetic(n=160, m=2, seed=1)
    model = quick("se3", inherent=False, hidden="8x0e + 4x1o", n_basis=6, radial_width=8, epochs=30,
                  learning_rate=1e-2, crops_per_configuration=2, crop_centres=8).fit(train)
    predicted, a = model.predict(test), test.types == 0
    for k in range(2):
        assert np.corrcoef(predicted[:, k, a].ravel(), test.propensity[:, k, a].ravel())[0, 1] > 0.8


def test_predictors_show_their_parameter_counts():
    """The defaults' networks (KA3D, one output) and a fitted predictor's repr."""
    from glassgen.predictors import get_predictor

    counts = {name: sum(p.numel() for p in get_predictor(name)._network(2, 3, 1).parameters())
              for name in ("bapst", "botan", "se3")}
    assert counts == {"bapst": 62_465, "botan": 54_273, "se3": 88_257}
    model = quick("bapst").fit(small_data(2))
    assert repr(model).endswith(f" with {sum(p.numel() for p in model.network_.parameters()):,} parameters")
    assert "parameters" not in repr(quick("bapst"))


def test_fast_paths_equal_the_plain_formulas(monkeypatch):
    """The speed-ups change no output: the edge MLP's first layer computed per node and gathered equals the MLP on
    [edge, sender, receiver]; SE(3) messages faded through their weights, in chunks of any size, equal the faded
    messages summed at once."""
    from glassgen.predictors.gnn import se3

    data = configuration(3, 150)
    sender, receiver = data.edge_index
    torch.manual_seed(0)
    for net in (BapstGNN(2, 3, 2).double(), BotanGNN(2, 3, 2).double()):
        block, nodes = net.block, torch.randn(data.num_nodes, 128, dtype=torch.float64)
        seen = nodes if net.encoded_nodes_in_edges else nodes[:, :64]
        edges = torch.randn(data.num_edges, 128, dtype=torch.float64)
        _, fast = block(seen, nodes, data.edge_index, edges)
        torch.testing.assert_close(fast, block.edge_mlp(torch.cat([edges, seen[sender], seen[receiver]], dim=-1)))
    model = SE3GNN(inherent=True, dtype=torch.float64, **SMALL_SE3)
    layer = model.layers[1]
    harmonics, radial, fade = model.edge_inputs(data)
    features = torch.randn(data.num_nodes, layer.tensor_product.irreps_in1.dim, dtype=torch.float64)
    messages = layer.tensor_product(features[sender], harmonics, layer.radial(radial)) * fade.unsqueeze(-1)
    summed = torch.zeros(data.num_nodes, messages.shape[1], dtype=torch.float64).index_add_(0, receiver, messages)
    plain = layer.gate(layer.linear(summed * layer.norm) + layer.self_connection(features))
    for chunk in (7, data.num_edges):
        monkeypatch.setattr(se3, "EDGE_CHUNK", chunk)
        torch.testing.assert_close(layer(features, data.edge_index, harmonics, radial, fade), plain)


def test_training_progress_counts_the_epochs(capsys):
    """The bar of a training shows the epochs done, not 0 until the end."""
    quick("bapst", epochs=3, patience=10, progress=True).fit(small_data(3))
    assert "3/3" in capsys.readouterr().err
