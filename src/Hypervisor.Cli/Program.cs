using Hypervisor.Cli;

return HvCli.Invoke(args, HvEnvironment.Process());
