"""Style names the UI accepts, as Fooocus normalises them (a subset of 2.5.5's ~280)."""
from __future__ import annotations

fooocus_expansion = 'Fooocus V2'
random_style_name = 'Random Style'

FOOOCUS_STYLES = [
    'Fooocus Enhance', 'Fooocus Semi Realistic', 'Fooocus Sharp', 'Fooocus Masterpiece',
    'Fooocus Photograph', 'Fooocus Negative', 'Fooocus Cinematic', 'Fooocus Pony',
]
SAI_STYLES = [
    'SAI 3D Model', 'SAI Analog Film', 'SAI Anime', 'SAI Cinematic', 'SAI Comic Book',
    'SAI Craft Clay', 'SAI Digital Art', 'SAI Enhance', 'SAI Fantasy Art', 'SAI Isometric',
    'SAI Line Art', 'SAI Lowpoly', 'SAI Neonpunk', 'SAI Origami', 'SAI Photographic',
    'SAI Pixel Art', 'SAI Texture',
]
OTHER_STYLES = [
    'MRE Cinematic Dynamic', 'Ads Advertising', 'Artstyle Watercolor', 'Photo Long Exposure',
    'Misc Minimalist',
]

style_keys = FOOOCUS_STYLES + SAI_STYLES + OTHER_STYLES
legal_style_names = [fooocus_expansion, random_style_name] + style_keys
