//! Random-walk tortuosity (methods §7). (in progress)
