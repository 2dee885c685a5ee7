"""Tiny sizes for every network part of conf/model/: composed configs shrunk in place, keyed by class.

``shrink(cfg.model)`` overrides the width and depth arguments of every node whose ``_target_`` is a
known class, so a composed model builds and runs in milliseconds while keeping its structure
(kernel sizes, activations, positions, which stages exist). A class without an entry is an error
naming it: a new network part gets its tiny size here.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig, open_dict

TINY_EFFICIENTNET_STAGES = ["cn_r1_k3_s1_e1_c8_skip", "er_r1_k3_s2_e2_c8", "ir_r1_k3_s2_e2_c8_se0.25"]
TINY: dict[str, dict[str, Any]] = {
    # frontends (video)
    "lipreading.models.frontends.small.SmallFrontend": {"stem_channels": 4, "stages": [[8, 2]]},
    "lipreading.models.frontends.resnet.ResNetFrontend": {"layers": [1, 1, 1, 1], "widths": [4, 4, 4, 4]},
    "lipreading.models.frontends.shufflenet.ShuffleNetV2Frontend": {"width_mult": 0.5},
    "lipreading.models.frontends.efficientnet.EfficientNetV2Frontend": {
        "stages": TINY_EFFICIENTNET_STAGES, "stem_channels": 8, "head_channels": 16, "width_mult": 1.0, "depth_mult": 1.0},
    "lipreading.models.frontends.efficientnet.EfficientNetV2GLUFrontend": {
        "stages": TINY_EFFICIENTNET_STAGES, "stem_channels": 8, "head_channels": 16},
    "lipreading.models.frontends.cnn3d.Conv3dFrontend": {"channels": [4, 4, 4, 4]},
    "lipreading.models.frontends.resnet3d.ResNet3dFrontend": {"layers": [1, 1, 1, 1], "widths": [4, 4, 4, 4]},
    # frontends (audio)
    "lipreading.models.frontends.audio.ResNet1DFrontend": {"layers": [1, 1, 1, 1], "widths": [4, 4, 4, 4]},
    "lipreading.models.frontends.audio.LogMelEfficientNetFrontend": {
        "stages": TINY_EFFICIENTNET_STAGES, "stem_channels": 8, "head_channels": 16, "width_mult": 1.0,
        "depth_mult": 1.0, "num_mels": 16},
    "lipreading.models.frontends.audio.SpecAugment": {"freq_width": 2, "time_width": 2},
    # backends
    "lipreading.models.backends.tcn.TemporalConvNet": {"branch_channels": 2, "num_layers": 2},
    "lipreading.models.backends.densetcn.DenseTemporalConvNet": {
        "growth_rates": [6, 6], "layers_per_block": 2, "reduced_dim": 6},
    "lipreading.models.backends.transformer.TransformerBackend": {
        "d_model": 8, "num_heads": 2, "num_layers": 1, "ffn_dim": 16},
    "lipreading.models.backends.conformer.ConformerBackend": {
        "d_model": 8, "num_heads": 2, "num_layers": 1, "ffn_dim": 16, "conv_kernel_size": 3},
    "lipreading.models.backends.recurrent.BiGRU": {"hidden_size": 4, "num_layers": 1},
    "lipreading.models.backends.recurrent.BiLSTM": {"hidden_size": 4, "num_layers": 1},
    "lipreading.models.backends.eflip_tcn.EfLipTemporalConvNet": {"hidden_dim": 6, "num_layers": 2},
    "lipreading.models.backends.stack.BackendStack": {},  # its stages are shrunk themselves
    # decoders, fusion, pooling, heads
    "lipreading.models.decoders.attention_lstm.AttentionLSTMDecoder": {
        "embed_dim": 8, "hidden_dim": 8, "num_layers": 1, "num_heads": 2},
    "lipreading.models.decoders.transformer.TransformerDecoder": {
        "d_model": 8, "num_heads": 2, "num_layers": 1, "ffn_dim": 16},
    "lipreading.models.fusion.ConcatFusion": {},
    "lipreading.models.fusion.AttentionFusion": {"dim": 8},
    "lipreading.models.pooling.MeanPooling": {},
    "lipreading.models.pooling.AttentionPooling": {"hidden_dim": 4},
    # whole networks and the separator's parts
    "lipreading.models.classifier.WordClassifierNet": {},
    "lipreading.models.audiovisual.AudioVisualWordNet": {},
    "lipreading.models.seq2seq.Seq2SeqNet": {},
    "lipreading.models.separation.separator.AudioVisualSeparator": {"selector_dim": 8, "prior_bands": 8},
    "lipreading.models.separation.unet.ConditionedUNet": {
        "channels": [2, 2, 2, 2, 2], "bottleneck_dim": 8, "temporal_layers": 1},
    "lipreading.models.separation.appearance.AppearanceEncoder": {"channels": [4, 4, 4], "embedding_dim": 4},
}


def shrink(node: Any) -> None:
    """Shrink, in place, every config node under ``node`` (a composed model config) to its tiny size."""
    if isinstance(node, ListConfig):
        for item in node:
            shrink(item)
        return
    if not isinstance(node, DictConfig):
        return
    target = node.get("_target_")
    if target is not None:
        if target not in TINY:
            raise KeyError(f"{target} has no tiny size; add one to tests/helpers/tiny.py (TINY)")
        with open_dict(node):
            for key, value in TINY[target].items():
                node[key] = value
    for key in node:
        if key != "_target_":
            shrink(node._get_node(key))
