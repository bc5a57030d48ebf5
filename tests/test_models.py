import pytest
import torch

from regopt.models import MLP, ConvNet, count_parameters


def test_convnet_shapes_and_size():
    net = ConvNet()
    out = net(torch.randn(5, 1, 28, 28))
    assert out.shape == (5, 10)
    # conv1 832 + conv2 51,264 + fc1 51,400 + fc2 2,010
    assert count_parameters(net) == 832 + 51264 + 256 * 200 + 200 + 2010


def test_convnet_rejects_wrong_input_shape():
    with pytest.raises(ValueError, match=r"\(n, 1, 28, 28\).*\(5, 784\)"):
        ConvNet()(torch.randn(5, 784))


def test_mlp_layers_and_flatten():
    net = MLP(784, [32, 16], 10, dropout=0.5)
    assert net(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 32), (32, 16), (16, 10)]
    assert sum(isinstance(m, torch.nn.Dropout) for m in net) == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"hidden": [32, 0]}, r"hidden\[1\]=0"),
    ({"in_features": -1}, r"in_features=-1"),
    ({"dropout": 1.0}, r"dropout=1.0"),
])
def test_mlp_validation_names_the_bad_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(**kwargs)
