"""The re-posing networks (XingGAN, PATN, the ResNet discriminator): shapes, the Xing block's attention
(gamma = 0 at init, SDPA = plain softmax attention, no 1/sqrt(d) scaling), the co-attention fusion, gradients,
dropout in train mode, and the parameter counts of the official layer lists."""

from __future__ import annotations

import pytest
import torch

from fashionlab.models.reposing import attention as attention_module
from fashionlab.models.reposing.attention import CrossAttention, attention_for_device, spatial_attention
from fashionlab.models.reposing.networks import (
    PatnBlock,
    PatnGenerator,
    PatnGeneratorConfig,
    PoseDiscriminator,
    PoseDiscriminatorConfig,
    XingBlock,
    XingGenerator,
    XingGeneratorConfig,
    fuse_candidates,
)

SMALL = {"width": 8, "blocks": 2}


def pose_inputs(batch: int, height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, height, width, generator=generator) * 2 - 1
    source_pose = torch.rand(batch, 18, height, width, generator=generator)
    target_pose = torch.rand(batch, 18, height, width, generator=generator)
    return image, source_pose, target_pose


def set_gammas(model: torch.nn.Module, value: float) -> None:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, CrossAttention):
                module.gamma.fill_(value)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_output_shapes_at_128x64(norm):
    torch.manual_seed(0)
    image, source_pose, target_pose = pose_inputs(2, 128, 64)
    xing = XingGenerator(XingGeneratorConfig(norm=norm, **SMALL))
    patn = PatnGenerator(PatnGeneratorConfig(norm=norm, **SMALL))
    for generator in (xing, patn):
        out = generator(image, source_pose, target_pose)
        assert out.shape == (2, 3, 128, 64)
        assert out.abs().max() <= 1 + 1e-6  # convex mix of tanh images and the source (Xing), tanh (PATN)
    discriminator_config = PoseDiscriminatorConfig(width=8, norm=norm)
    shape_discriminator = PoseDiscriminator(3 + 18, discriminator_config)
    appearance_discriminator = PoseDiscriminator(3 + 3, discriminator_config)
    shape_scores = shape_discriminator(torch.cat([image, target_pose], 1))
    appearance_scores = appearance_discriminator(torch.cat([image, image], 1))
    # no final 1-channel conv: a 4 x width channel map of scores at 1/4 resolution, sigmoid for BCE (Market)
    assert shape_scores.shape == appearance_scores.shape == (2, 32, 32, 16)
    assert shape_scores.min() >= 0 and shape_scores.max() <= 1
    logits = PoseDiscriminator(6, PoseDiscriminatorConfig(width=8, sigmoid=False))(torch.cat([image, image], 1))
    assert logits.min() < 0 < logits.max()


def test_plain_attention_is_unscaled_softmax_and_sdpa_matches_it():
    generator = torch.Generator().manual_seed(1)
    query = torch.randn(2, 4, 24, 16, generator=generator)  # 384 positions
    key = torch.randn(2, 4, 24, 16, generator=generator)
    value = torch.randn(2, 16, 24, 16, generator=generator)
    energy = torch.einsum("bdi,bdj->bij", query.flatten(2), key.flatten(2))  # no 1/sqrt(d), as the official code
    expected = torch.einsum("bij,bcj->bci", energy.softmax(-1), value.flatten(2)).view_as(value)
    plain = spatial_attention(query, key, value, "plain")
    sdpa = spatial_attention(query, key, value, "sdpa")
    torch.testing.assert_close(plain, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(sdpa, expected, atol=1e-5, rtol=0)
    scaled = spatial_attention(query / 2, key, value, "plain")  # a 1/sqrt(4) scaling would give this
    assert (scaled - plain).abs().max() > 1e-2


def test_auto_attention_runs_plain_on_cpu_and_sdpa_elsewhere(monkeypatch):
    """The default (``auto``) takes the path measured faster per device: the plain softmax on the CPU (SDPA was
    2.4x slower there, docs/benchmarks.md), the fused kernel on other devices."""
    assert XingGeneratorConfig().attention == "auto"
    assert attention_for_device("cpu") == "plain"
    assert attention_for_device(torch.device("cuda", 0)) == "sdpa"
    assert attention_for_device("meta") == "sdpa"
    calls = []
    real_sdpa = attention_module.F.scaled_dot_product_attention

    def counting_sdpa(*args, **kwargs):
        calls.append(1)
        return real_sdpa(*args, **kwargs)

    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention", counting_sdpa)
    torch.manual_seed(0)
    generator = XingGenerator(XingGeneratorConfig(**SMALL))
    set_gammas(generator, 1.0)
    generator(*pose_inputs(1, 32, 16)).sum().backward()
    assert calls == []  # the CPU default never reaches SDPA
    query, key, value = torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4), torch.randn(1, 4, 4, 4)
    expected = spatial_attention(query, key, value, "plain")
    torch.testing.assert_close(spatial_attention(query, key, value, "sdpa"), expected, atol=1e-5, rtol=0)
    assert len(calls) == 1  # an explicit "sdpa" still runs it
    # on a non-CPU tensor "auto" takes SDPA: the meta device runs shapes only
    meta = [t.to("meta") for t in (query, key, value)]
    assert spatial_attention(*meta).shape == (1, 4, 4, 4)
    assert len(calls) == 2


def test_sdpa_and_plain_generators_agree():
    torch.manual_seed(2)
    image, source_pose, target_pose = pose_inputs(2, 96, 64)  # 24 x 16 = 384 positions in the blocks
    sdpa = XingGenerator(XingGeneratorConfig(attention="sdpa", **SMALL))
    set_gammas(sdpa, 1.0)  # make the attention count
    plain = XingGenerator(XingGeneratorConfig(attention="plain", **SMALL))
    plain.load_state_dict(sdpa.state_dict())
    sdpa.eval()
    plain.eval()
    with torch.no_grad():
        without_attention = XingGenerator(XingGeneratorConfig(**SMALL))
        without_attention.load_state_dict(sdpa.state_dict())
        set_gammas(without_attention.eval(), 0.0)
        out_sdpa, out_plain = sdpa(image, source_pose, target_pose), plain(image, source_pose, target_pose)
        assert (out_sdpa - without_attention(image, source_pose, target_pose)).abs().max() > 1e-4
    torch.testing.assert_close(out_sdpa, out_plain, atol=1e-5, rtol=0)


def test_xing_block_at_init_is_its_streams_and_passes_on_concat_appearance_shape():
    torch.manual_seed(3)
    block = XingBlock(32, 64, "batch", 0.5).eval()
    assert block.cross_attention.gamma.item() == 0.0
    appearance, shape = torch.randn(2, 32, 12, 8), torch.randn(2, 64, 12, 8)
    with torch.no_grad():
        appearance_out, shape_state = block(appearance, shape)
        appearance_stream, shape_stream = block.appearance_stream(appearance), block.shape_stream(shape)
    assert shape_state.shape == (2, 64, 12, 8)
    torch.testing.assert_close(appearance_out, appearance_stream, atol=0, rtol=0)  # no residual to the input
    torch.testing.assert_close(shape_state, torch.cat([appearance_stream, shape_stream], 1), atol=0, rtol=0)
    generator = XingGenerator(XingGeneratorConfig(**SMALL))
    assert all(block.cross_attention.gamma.item() == 0.0 for block in generator.blocks)


def test_xing_attention_mixes_appearance_queries_with_shape_keys():
    torch.manual_seed(4)
    attention = CrossAttention(16, "plain")
    set_gammas(attention, 0.5)
    appearance, shape = torch.randn(1, 16, 6, 4), torch.randn(1, 16, 6, 4)
    with torch.no_grad():
        appearance_out, shape_out = attention(appearance, shape)
        query, key, value = attention.query, attention.key, attention.value
        expected_appearance = appearance + 0.5 * spatial_attention(query(appearance), key(shape), value(appearance))
        expected_shape = shape + 0.5 * spatial_attention(query(shape), key(appearance), value(shape))
    torch.testing.assert_close(appearance_out, expected_appearance)
    torch.testing.assert_close(shape_out, expected_shape)


def test_patn_block_gates_appearance_by_the_shape_stream():
    torch.manual_seed(5)
    block = PatnBlock(32, 64, "batch", 0.5).eval()
    appearance, shape = torch.randn(2, 32, 12, 8), torch.randn(2, 64, 12, 8)
    with torch.no_grad():
        appearance_out, shape_state = block(appearance, shape)
        shape_stream = block.shape_stream(shape)
        expected = appearance + block.appearance_stream(appearance) * torch.sigmoid(shape_stream)
    torch.testing.assert_close(appearance_out, expected)
    torch.testing.assert_close(shape_state, torch.cat([shape_stream, expected], 1))  # shape first, unlike Xing


def test_fusion_is_a_softmax_mix_of_candidates_and_source():
    torch.manual_seed(6)
    candidates, source = torch.rand(2, 3 * 4, 8, 4), torch.rand(2, 3, 8, 4)
    logits = torch.randn(2, 4 + 1, 8, 4)
    out = fuse_candidates(candidates, source, logits)
    weights = logits.softmax(1)
    torch.testing.assert_close(weights.sum(1), torch.ones(2, 8, 4))
    expected = sum(weights[:, k : k + 1] * candidates[:, 3 * k : 3 * k + 3] for k in range(4))
    torch.testing.assert_close(out, expected + weights[:, 4:5] * source)
    one_hot = torch.full_like(logits, -100.0)
    one_hot[:, 2] = 100.0
    torch.testing.assert_close(fuse_candidates(candidates, source, one_hot), candidates[:, 6:9])


def test_generator_returns_the_source_when_the_fusion_favours_the_last_map():
    torch.manual_seed(7)
    generator = XingGenerator(XingGeneratorConfig(**SMALL)).eval()
    image, source_pose, target_pose = pose_inputs(2, 32, 16)
    maps = []

    def favour_source(module, inputs, output):
        maps.append(output.softmax(1))
        forced = torch.full_like(output, -50.0)
        forced[:, -1] = 50.0
        return forced

    with torch.no_grad():
        assert generator(image, source_pose, target_pose).shape == image.shape
        handle = generator.fusion_decoder.register_forward_hook(favour_source)
        out = generator(image, source_pose, target_pose)
        handle.remove()
    assert maps[0].shape == (2, 21, 32, 16)
    torch.testing.assert_close(maps[0].sum(1), torch.ones(2, 32, 16))
    torch.testing.assert_close(out, image, atol=1e-6, rtol=0)


def test_every_generator_parameter_gets_a_gradient():
    torch.manual_seed(8)
    image, source_pose, target_pose = pose_inputs(2, 32, 16)
    generator = XingGenerator(XingGeneratorConfig(**SMALL)).train()
    weights = torch.randn(2, 3, 32, 16)
    (generator(image, source_pose, target_pose) * weights).sum().backward()
    # gamma = 0 at init multiplies every path through the query/key/value convs: their gradient is exactly
    # zero, while gamma itself (the attention term's size) gets one.
    attention_convs = {n for n, _ in generator.named_parameters() if ".cross_attention." in n and "gamma" not in n}
    for name, parameter in generator.named_parameters():
        assert parameter.grad is not None, name
        if name in attention_convs:
            assert parameter.grad.abs().max() == 0, name
        else:
            assert parameter.grad.abs().max() > 0, name
    generator.zero_grad()
    set_gammas(generator, 0.5)
    (generator(image, source_pose, target_pose) * weights).sum().backward()
    assert all(p.grad.abs().max() > 0 for n, p in generator.named_parameters()), "after gamma != 0"
    patn = PatnGenerator(PatnGeneratorConfig(**SMALL)).train()
    (patn(image, source_pose, target_pose) * weights).sum().backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in patn.parameters())
    discriminator = PoseDiscriminator(21, PoseDiscriminatorConfig(width=8)).train()
    discriminator(torch.cat([image, target_pose], 1)).mean().backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in discriminator.parameters())


@pytest.mark.parametrize("dropout", [0.5, 0.0])
def test_dropout_is_active_in_train_mode_only(dropout):
    torch.manual_seed(9)
    image, source_pose, target_pose = pose_inputs(2, 32, 16)
    networks = [
        (XingGenerator(XingGeneratorConfig(dropout=dropout, **SMALL)), (image, source_pose, target_pose)),
        (PatnGenerator(PatnGeneratorConfig(dropout=dropout, **SMALL)), (image, source_pose, target_pose)),
        (PoseDiscriminator(6, PoseDiscriminatorConfig(width=8, dropout=dropout)), (torch.cat([image, image], 1),)),
    ]
    with torch.no_grad():
        for network, inputs in networks:
            network.train()
            differ = not torch.equal(network(*inputs), network(*inputs))
            assert differ == (dropout > 0), type(network).__name__
            network.eval()
            assert torch.equal(network(*inputs), network(*inputs)), type(network).__name__


def test_bad_settings_and_sizes_are_refused():
    with pytest.raises(ValueError, match="norm"):
        XingGenerator(XingGeneratorConfig(norm="group", **SMALL))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attention"):
        XingGenerator(XingGeneratorConfig(attention="flash", **SMALL))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="multiples of 4"):
        PatnGenerator(PatnGeneratorConfig(**SMALL))(*pose_inputs(1, 30, 16))


def test_parameter_counts_match_the_official_layer_lists():
    """Market settings: width 64, 9 blocks, batch norm (convs before a norm have no bias), 10 + 10 candidates.

    Encoders (C = 256): appearance 3*64*49 + 64*128*9 + 128*256*9 = 378,048 weights + BN (64+128+256)*2 = 896
    -> 378,944; shape (36 input channels) 112,896 + 73,728 + 294,912 + 896 = 482,432.
    Xing block: appearance stream 2 * 256*256*9 + 2 BN(256) = 1,180,672; shape stream in block 1
    256*256*9 + BN(256) + 256*256*9 = 1,180,160, in blocks 2-9 512*512*9 + BN(512) + 512*256*9 = 3,539,968;
    attention query and key 256*32 + 32 = 8,224 each, value 256*256 + 256 = 65,792, gamma 1 -> 82,241.
    Block 1: 2,443,073; blocks 2-9: 8 * 4,802,881 = 38,423,048.
    Decoders: appearance 256*128*9 + BN(128) + 128*64*9 + BN(64) + 64*30*49 + 30 = 463,134; shape the same
    plus the 1x1 reducer 512*256 + BN(256) = 131,584; fusion 768*256*9 + BN(256) + 256*128*9 + BN(128)
    + 128*21 = 2,067,840.
    Total 44,853,189 (the issue's "44.9M"); the official XingNetwork counts the same (checked by building it).
    PATN: encoders 861,376 + block 1 2,360,832 + 8 * 4,720,640 + decoder 378,435 (3-channel 7x7 conv) =
    41,365,763. Discriminator on 3 + 18 channels: 21*64*49 + 73,728 + 294,912 + BN 896 + 3 blocks *
    1,180,672 = 3,977,408."""
    counts = {
        "xing": sum(p.numel() for p in XingGenerator().parameters()),
        "patn": sum(p.numel() for p in PatnGenerator().parameters()),
        "discriminator_pose": sum(p.numel() for p in PoseDiscriminator(3 + 18).parameters()),
    }
    print(f"\nparameters: {counts}")
    expected = {"xing": 44_853_189, "patn": 41_365_763, "discriminator_pose": 3_977_408}
    for name, count in counts.items():
        assert count == pytest.approx(expected[name], rel=0.01), name
        assert count == expected[name], name
    assert counts["xing"] == pytest.approx(44.9e6, rel=0.01)
