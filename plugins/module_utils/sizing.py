# -*- coding: utf-8 -*-
# Copyright: localllm.workstation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Estimate the GPU memory a GGUF model needs under Ollama, as pure functions.

Used by localllm.workstation.vram_check. Standard library only.

The estimate is weights + KV cache + compute graph, plus the memory Ollama keeps in reserve
on each GPU and OLLAMA_GPU_OVERHEAD. It is a planning figure, not Ollama's own scheduler.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

MIB = 1024 * 1024
GIB = 1024 * MIB

# Bytes per parameter of a whole GGUF file and the nominal bits of the quantization.
# Figures marked "FN8" are FIELD_NOTES section 8 (ggml block sizes checked against
# llama.cpp's measured files). The others are the ggml block size of the type (bits per
# weight / 8, from the block layouts in ggml's ggml-common.h) rounded up by the margin
# the measured figures show over their pure block size, since files keep some tensors
# (token embeddings, output) at a higher precision.
QUANTIZATIONS = {
    'F32': (4.0, 32),        # FN8
    'F16': (2.0, 16),        # FN8
    'BF16': (2.0, 16),       # FN8
    'Q8_0': (1.06, 8),       # FN8 (block: 8.5 bits)
    'Q6_K': (0.82, 6),       # FN8 (block: 6.5625 bits)
    'Q5_1': (0.75, 5),       # block 6.0 bits
    'Q5_K_M': (0.71, 5),     # FN8
    'Q5_K_S': (0.69, 5),     # block 5.5 bits
    'Q5_0': (0.69, 5),       # block 5.5 bits
    'Q4_1': (0.63, 4),       # block 5.0 bits
    'Q4_K_M': (0.61, 4),     # FN8
    'Q4_0': (0.58, 4),       # FN8 (block: 4.5 bits)
    'IQ4_NL': (0.58, 4),     # block 4.5 bits, as Q4_0
    'Q4_K_S': (0.57, 4),     # block 4.5 bits
    'IQ4_XS': (0.56, 4),     # FN8 (block: 4.25 bits)
    'MXFP4': (0.55, 4),      # block 4.25 bits
    'Q3_K_L': (0.54, 3),     # Q3_K block 3.4375 bits, attention and output at Q5_K/Q6_K
    'Q3_K_M': (0.50, 3),     # FN8
    'IQ3_M': (0.46, 3),      # block 3.4375 bits, some tensors higher
    'Q3_K_S': (0.44, 3),     # block 3.4375 bits
    'IQ3_S': (0.44, 3),      # block 3.4375 bits
    'IQ3_XS': (0.42, 3),     # mix of IQ3_XXS and IQ3_S
    'IQ3_XXS': (0.40, 3),    # block 3.0625 bits
    'Q2_K': (0.39, 2),       # FN8 (block: 2.625 bits)
    'IQ2_M': (0.34, 2),      # block 2.5 bits, some tensors higher
    'IQ2_S': (0.32, 2),      # block 2.5 bits
    'IQ2_XS': (0.30, 2),     # FN8 "about 0.3" (block: 2.3125 bits)
    'IQ2_XXS': (0.27, 2),    # block 2.0625 bits
    'IQ1_M': (0.23, 1),      # block 1.75 bits
    'IQ1_S': (0.21, 1),      # block 1.5625 bits
}

# Other spellings, including the guide's FP32/FP16/INT8/INT5/INT4, mapped to the GGUF type
# an Ollama user gets for them: the K-quant "M" mix where a bare K or INTn is written.
ALIASES = {
    'FP32': 'F32', 'FLOAT32': 'F32',
    'FP16': 'F16', 'FLOAT16': 'F16', 'HALF': 'F16',
    'INT8': 'Q8_0', 'Q8': 'Q8_0',
    'INT6': 'Q6_K', 'Q6': 'Q6_K',
    'INT5': 'Q5_K_M', 'Q5_K': 'Q5_K_M', 'Q5': 'Q5_K_M',
    'INT4': 'Q4_K_M', 'Q4_K': 'Q4_K_M', 'Q4': 'Q4_K_M',
    'INT3': 'Q3_K_M', 'Q3_K': 'Q3_K_M', 'Q3': 'Q3_K_M',
    'INT2': 'Q2_K', 'Q2': 'Q2_K',
}

# Quality floor: the guide calls anything below 4-bit quantization not usable.
QUALITY_FLOOR_BITS = 4

# Fixed part of every file: GGUF header and metadata, the tokenizer vocabulary (about 5 MB
# for a 128k-token vocabulary) and the F32 norm tensors. Calibrated so that the three
# published Q4_K_M files of FIELD_NOTES 8 come out within 2 %:
# Llama 3.1 8B (8.03e9 parameters) 4.93 GB for 4.92 GB published, Llama 3.2 3B (3.21e9)
# 1.99 GB for 2.02 GB, Qwen2.5-Coder 32B (32.76e9) 20.02 GB for 19.9 GB.
FILE_OVERHEAD_BYTES = 32 * MIB

# Bytes per element of the KV cache by OLLAMA_KV_CACHE_TYPE (FIELD_NOTES 8; q8_0 and q4_0
# are ggml blocks of 32 values with a 2-byte scale: 34/32 and 18/32).
KV_CACHE_TYPES = {'f16': 2.0, 'q8_0': 1.0625, 'q4_0': 0.5625}
KV_CACHE_ORDER = ('f16', 'q8_0', 'q4_0')

# Memory Ollama keeps free on each GPU (FIELD_NOTES 8).
RESERVE_CUDA_ROCM = 457 * MIB
RESERVE_METAL = 512 * MIB

# Compute graph: llama.cpp evaluates prompts in batches of 512 tokens (Ollama's default
# num_batch) and keeps f32 logits for the batch (batch x vocabulary x 4 bytes) plus
# activation buffers, counted as four f32 vectors of the embedding size per token.
# Without the vocabulary or embedding size, a flat 256 MiB (the figure the formula gives
# for 8B-class models with a 128k vocabulary is close to 300 MB).
GRAPH_BATCH = 512
GRAPH_FALLBACK_BYTES = 256 * MIB

MIN_PARAMETERS = 10 ** 6
MAX_PARAMETERS = 10 * 10 ** 12
MAX_CONTEXT = 10 * 10 ** 6
MAX_PARALLEL = 512

_SUFFIXES = {'': 1, 'K': 10 ** 3, 'M': 10 ** 6, 'B': 10 ** 9, 'G': 10 ** 9, 'T': 10 ** 12}


def quantization_names():
    """Sorted canonical quantization names."""
    return sorted(QUANTIZATIONS)


def normalize_quantization(name):
    """Return the canonical name of a quantization written in any case or alias.

    Raises ValueError naming the valid choices.
    """
    key = str(name).strip().upper().replace('-', '_') if name is not None else ''
    key = ALIASES.get(key, key)
    if key not in QUANTIZATIONS:
        raise ValueError('unknown quantization %r; write one of %s (or the aliases %s)' % (
            name, ', '.join(quantization_names()), ', '.join(sorted(ALIASES))))
    return key


def normalize_kv_cache_type(value):
    """Return f16, q8_0 or q4_0 from any case (``Q8_0``, `` q4-0 ``).

    Raises ValueError naming the valid choices for anything else.
    """
    key = value.strip().lower().replace('-', '_') if isinstance(value, str) else None
    if key not in KV_CACHE_TYPES:
        raise ValueError('kv_cache_type %r is not a KV cache type; write %s or %s' % (
            value, ', '.join(KV_CACHE_ORDER[:-1]), KV_CACHE_ORDER[-1]))
    return key


def bytes_per_parameter(quantization):
    return QUANTIZATIONS[normalize_quantization(quantization)][0]


def quantization_bits(quantization):
    return QUANTIZATIONS[normalize_quantization(quantization)][1]


def is_low_quality(quantization):
    """True below 4-bit quantization, the guide's quality floor."""
    return quantization_bits(quantization) < QUALITY_FLOOR_BITS


def parse_parameters(value):
    """Return a parameter count from ``8B``, ``70b``, ``1.1B``, ``500M``, ``8.03e9`` or 8030000000.

    Raises ValueError for anything else, or outside 1M .. 10T.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError('parameters must be a count such as 8B, 1.1B, 500M or 8030000000')
    if isinstance(value, (int, float)):
        count = float(value)
    else:
        text = str(value).strip().upper().replace('_', '').replace(' ', '')
        match = re.match(r'^(\d+(?:\.\d+)?(?:E\d+)?)([KMBGT]?)$', text)
        if not match:
            raise ValueError('parameters %r is not a count; write it as 8B, 1.1B, 500M or '
                             '8030000000' % (value,))
        count = float(match.group(1)) * _SUFFIXES[match.group(2)]
    if math.isnan(count) or count < MIN_PARAMETERS:
        raise ValueError('parameters %r is below one million; write billions with a B, '
                         'for example 8B' % (value,))
    if count > MAX_PARAMETERS:
        raise ValueError('parameters %r is above 10T, larger than any model this '
                         'estimate knows; check the unit (500M, 8B)' % (value,))
    return int(round(count))


def weights_bytes(parameters, quantization):
    """Size of the model file: parameters x bytes per parameter + FILE_OVERHEAD_BYTES."""
    return int(round(parameters * bytes_per_parameter(quantization))) + FILE_OVERHEAD_BYTES


def kv_cache_bytes(layers, kv_heads, head_dim, context_length, kv_cache_type='f16',
                   num_parallel=1, value_dim=None):
    """KV cache: keys and values for every layer, KV head and token of every parallel slot.

    2 x layers x kv_heads x head_dim x context x bytes per element x num_parallel; with a
    different value head size, keys and values are counted separately.
    """
    per_element = KV_CACHE_TYPES[kv_cache_type]
    dims = head_dim + (value_dim if value_dim else head_dim)
    return int(round(layers * kv_heads * dims * context_length * per_element * num_parallel))


def graph_bytes(embedding_length=None, vocab_size=None):
    """Compute graph allowance; see GRAPH_BATCH."""
    if not embedding_length or not vocab_size:
        return GRAPH_FALLBACK_BYTES
    return 4 * GRAPH_BATCH * (vocab_size + 4 * embedding_length)


def estimate(spec):
    """Return weights, KV cache and graph bytes for a model spec dict.

    Keys: parameters, quantization, layers, kv_heads, head_dim, value_dim (optional),
    context_length, kv_cache_type, num_parallel, embedding_length and vocab_size
    (optional), graph_bytes (optional override).
    """
    weights = weights_bytes(spec['parameters'], spec['quantization'])
    kv_cache = kv_cache_bytes(spec['layers'], spec['kv_heads'], spec['head_dim'],
                              spec['context_length'], spec.get('kv_cache_type', 'f16'),
                              spec.get('num_parallel', 1), spec.get('value_dim'))
    graph = spec.get('graph_bytes')
    if graph is None:
        graph = graph_bytes(spec.get('embedding_length'), spec.get('vocab_size'))
    return {'weights_bytes': weights, 'kv_cache_bytes': kv_cache, 'graph_bytes': graph}


def fit(parts, gpus, overhead_bytes=0, layers=None):
    """Decide whether a model fits the GPUs.

    ``parts`` comes from estimate(); ``gpus`` is a list of dicts with ``memory_bytes`` and
    ``reserve_bytes``; ``overhead_bytes`` (OLLAMA_GPU_OVERHEAD) counts once per GPU.
    Returns verdict (fits, partial, cpu), gpu_share (0..1, whole layers when ``layers`` is
    known), required_bytes, available_bytes, headroom_bytes, reserve_bytes, overhead_bytes.
    """
    model = parts['weights_bytes'] + parts['kv_cache_bytes']
    available = sum(gpu['memory_bytes'] for gpu in gpus)
    reserve = sum(gpu['reserve_bytes'] for gpu in gpus)
    overhead = overhead_bytes * len(gpus)
    required = model + parts['graph_bytes'] + reserve + overhead
    result = {
        'required_bytes': required,
        'available_bytes': available,
        'headroom_bytes': available - required,
        'reserve_bytes': reserve,
        'overhead_bytes': overhead,
    }
    if not gpus or available <= 0:
        result.update(verdict='cpu', gpu_share=0.0)
        return result
    if required <= available:
        result.update(verdict='fits', gpu_share=1.0)
        return result
    usable = sum(max(0, gpu['memory_bytes'] - gpu['reserve_bytes'] - overhead_bytes)
                 for gpu in gpus)
    share = max(0.0, min(1.0, (usable - parts['graph_bytes']) / float(model)))
    if layers:
        share = math.floor(share * layers) / float(layers)
    share = round(share, 4)
    result.update(verdict='partial' if share > 0 else 'cpu', gpu_share=share)
    return result


def human(count):
    """Bytes as a short GiB/MiB figure."""
    sign = '-' if count < 0 else ''
    count = abs(count)
    if count >= GIB:
        return '%s%.1f GiB' % (sign, count / float(GIB))
    return '%s%d MiB' % (sign, int(round(count / float(MIB))))


def human_parameters(count):
    if count >= 10 ** 9:
        return '%.2fB' % (count / 1e9)
    return '%.0fM' % (count / 1e6)


def summary(name, spec, parts, result):
    """One sentence a user can read in a play's output."""
    text = ('%s (%s parameters, %s, context %d, KV cache %s x%d) needs %s: weights %s, '
            'KV cache %s, graph %s, reserve %s'
            % (name or 'model', human_parameters(spec['parameters']), spec['quantization'],
               spec['context_length'], spec.get('kv_cache_type', 'f16'),
               spec.get('num_parallel', 1), human(result['required_bytes']),
               human(parts['weights_bytes']), human(parts['kv_cache_bytes']),
               human(parts['graph_bytes']), human(result['reserve_bytes'])))
    if result['overhead_bytes']:
        text += ', overhead %s' % human(result['overhead_bytes'])
    if result['verdict'] == 'fits':
        return text + '; fits in %s of GPU memory with %s to spare' % (
            human(result['available_bytes']), human(result['headroom_bytes']))
    if result['verdict'] == 'partial':
        return text + ('; only %d%% fits in %s of GPU memory, the rest runs on the CPU '
                       '(%s short)' % (int(result['gpu_share'] * 100),
                                       human(result['available_bytes']),
                                       human(-result['headroom_bytes'])))
    if not result['available_bytes']:
        return text + '; no usable GPU memory, runs on the CPU'
    return text + '; nothing fits in %s of GPU memory, runs on the CPU' % (
        human(result['available_bytes']))


def _fits(spec, gpus, overhead_bytes):
    return fit(estimate(spec), gpus, overhead_bytes, spec.get('layers'))['verdict'] == 'fits'


def suggestions(spec, gpus, overhead_bytes=0):
    """Changes that each alone would make the model fit, most faithful first.

    Tries a smaller quantization (not below 4 bits unless the model already is), a shorter
    context (powers of two down to 2048), a q8_0 then q4_0 KV cache and one parallel slot.
    """
    found = []
    if not gpus or sum(gpu['memory_bytes'] for gpu in gpus) <= 0:
        return found
    current = spec['quantization']
    floor = min(QUALITY_FLOOR_BITS, quantization_bits(current))
    smaller = sorted((name for name, (bpp, bits) in QUANTIZATIONS.items()
                      if bpp < QUANTIZATIONS[current][0] and bits >= floor),
                     key=lambda name: -QUANTIZATIONS[name][0])
    for name in smaller:
        if _fits(dict(spec, quantization=name), gpus, overhead_bytes):
            found.append('quantization %s' % name)
            break
    context = 1 << (max(spec['context_length'] - 1, 1).bit_length() - 1)
    while context >= 2048:
        if context < spec['context_length'] and _fits(dict(spec, context_length=context),
                                                      gpus, overhead_bytes):
            found.append('context_length %d' % context)
            break
        context //= 2
    if spec.get('kv_cache_type', 'f16') == 'f16':
        for kind in ('q8_0', 'q4_0'):
            if _fits(dict(spec, kv_cache_type=kind), gpus, overhead_bytes):
                found.append('kv_cache_type %s (with OLLAMA_FLASH_ATTENTION=1)' % kind)
                break
    if spec.get('num_parallel', 1) > 1 and _fits(dict(spec, num_parallel=1), gpus,
                                                 overhead_bytes):
        found.append('num_parallel 1')
    return found
