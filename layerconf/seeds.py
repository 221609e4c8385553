"""The seed of one check's draws, from the suite's --seed and the check id (the plugin's and the repros')."""
import zlib


def derived(seed: int, check_id: str) -> int:
    """(seed * 1000003 + crc32(check id)) mod 2^31."""
    return (seed * 1_000_003 + zlib.crc32(check_id.encode())) % 2**31
