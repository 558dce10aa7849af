{
 "patcher": {
  "fileversion": 1,
  "appversion": {
   "major": 8,
   "minor": 6,
   "revision": 0,
   "architecture": "x64",
   "modernui": 1
  },
  "classnamespace": "box",
  "rect": [
   150,
   150,
   760,
   560
  ],
  "default_fontsize": 12.0,
  "gridsize": [
   15.0,
   15.0
  ],
  "boxes": [
   {
    "box": {
     "id": "obj-1",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      20,
      700,
      22
     ],
     "text": "coevo_visual: the visual OSC stream of `coevo run --visuals` in Max/Jitter."
    }
   },
   {
    "box": {
     "id": "obj-2",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      44,
      700,
      22
     ],
     "text": "It subscribes to the daemon's events on port 9103 (each second) and shows the frame's five main colours"
    }
   },
   {
    "box": {
     "id": "obj-3",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      68,
      700,
      22
     ],
     "text": "(/coevo/visual/palette, darkest first) in a Jitter matrix, the visual energy, and the bar and beat."
    }
   },
   {
    "box": {
     "id": "obj-4",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      92,
      700,
      22
     ],
     "text": "Build on it: the matrix is named coevo_palette (3 planes float32, 5x1); route more addresses from the"
    }
   },
   {
    "box": {
     "id": "obj-5",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      116,
      700,
      22
     ],
     "text": "udpreceive: /coevo/visual/valence, /coevo/visual/arousal, /coevo/visual/latent (8 floats)."
    }
   },
   {
    "box": {
     "id": "obj-6",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      140,
      700,
      22
     ],
     "text": "Try it without the daemon: click the messages below; they go to the patch over UDP port 9103."
    }
   },
   {
    "box": {
     "id": "obj-7",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      274,
      170,
      22
     ],
     "text": "udpsend 127.0.0.1 9103"
    }
   },
   {
    "box": {
     "id": "obj-8",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      200,
      184,
      480,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/visual/palette 0.1 0.05 0.2 0.3 0.1 0.4 0.6 0.2 0.3 0.9 0.5 0.2 1. 0.9 0.6"
    }
   },
   {
    "box": {
     "id": "obj-9",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      200,
      214,
      480,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/visual/energy 0.8"
    }
   },
   {
    "box": {
     "id": "obj-10",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      200,
      244,
      480,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/beat 3 2"
    }
   },
   {
    "box": {
     "id": "obj-11",
     "maxclass": "bpatcher",
     "numinlets": 0,
     "numoutlets": 0,
     "patching_rect": [
      20,
      354,
      320,
      180
     ],
     "name": "coevo_visual.maxpat",
     "args": [],
     "embed": 0
    }
   }
  ],
  "lines": [
   {
    "patchline": {
     "source": [
      "obj-8",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-9",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-10",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   }
  ],
  "dependency_cache": [
   {
    "name": "coevo_clip.js",
    "bootpath": ".",
    "type": "TEXT",
    "implicit": 1
   }
  ],
  "autosave": 0
 }
}
