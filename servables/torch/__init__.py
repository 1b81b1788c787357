"""PyTorch models: TorchScript, torch.export ExportedPrograms and AOTInductor packages."""
