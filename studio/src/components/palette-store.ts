// The command palette's state, and the commands the current page adds to it (the editor adds
// "add node" and "run"), kept outside React so any page can register them.
import { create } from 'zustand';

export interface Command {
  id: string;
  group: string;
  label: string;
  hint?: string;
  keywords?: string[];
  run: () => void;
}

interface PaletteState {
  open: boolean;
  pageCommands: Command[];
  setOpen: (open: boolean) => void;
  setPageCommands: (commands: Command[]) => void;
}

export const usePalette = create<PaletteState>((set) => ({
  open: false,
  pageCommands: [],
  setOpen: (open) => set({ open }),
  setPageCommands: (pageCommands) => set({ pageCommands }),
}));

export const openPalette = () => usePalette.getState().setOpen(true);
