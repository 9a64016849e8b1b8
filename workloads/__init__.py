"""PyTorch side of accelsim (optional extra ``torch``): channel-gated models, their training on
Fashion-MNIST, and the exporter that turns a trained model's gate decisions into a trace."""
