import pytest
from torch.utils.data import DataLoader, Dataset

from landmark_tag.errors import ConfigError, message_of


class Unreadable(Dataset):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int):
        raise ConfigError("none of the 1 photos could be decoded (the first: /photos/a: b.jpg)")


def test_an_error_raised_in_a_data_loader_worker_reads_as_its_own_message():
    with pytest.raises(ConfigError) as raised:
        list(DataLoader(Unreadable(), num_workers=1))
    assert "Traceback" in str(raised.value)  # as PyTorch re-raises it
    assert message_of(raised.value) == "none of the 1 photos could be decoded (the first: /photos/a: b.jpg)"
    assert message_of(ConfigError("a: b")) == "a: b"
