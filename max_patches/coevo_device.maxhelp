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
     "text": "coevo_device: a Max for Live MIDI effect for Coevo (run `coevo run` first)."
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
     "text": "Drop it on a MIDI track. Each phrase the daemon makes arrives over OSC on port 9101 and, with Capture on,"
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
     "text": "becomes a clip in the highlighted slot of this track (when empty) or the next empty slot (Live 11+)."
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
     "text": "Write puts the last phrase into a clip now. Like/Dislike steer the model; the pad sets the mood"
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
     "text": "(valence left-right, arousal bottom-top); the dials set the named axes; Bars sets the phrase length."
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
     "text": "Status shows whether the daemon answers /coevo/ping; below it the key and tempo from /coevo/state."
    }
   },
   {
    "box": {
     "id": "obj-7",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      164,
      700,
      22
     ],
     "text": "Try it without Live: click the three messages below (begin, notes, end) and read the Max console."
    }
   },
   {
    "box": {
     "id": "obj-8",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 4,
     "patching_rect": [
      20,
      298,
      120,
      22
     ],
     "outlettype": [
      "",
      "",
      "",
      ""
     ],
     "text": "js coevo_clip.js"
    }
   },
   {
    "box": {
     "id": "obj-9",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      338,
      80,
      22
     ],
     "text": "print coevo"
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
      208,
      480,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/phrase/begin demo 4. 2"
    }
   },
   {
    "box": {
     "id": "obj-11",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      200,
      238,
      480,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/phrase/notes demo 0 60 0. 1. 100 0 64 1. 1. 90 0"
    }
   },
   {
    "box": {
     "id": "obj-12",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      200,
      268,
      480,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/phrase/end demo"
    }
   },
   {
    "box": {
     "id": "obj-13",
     "maxclass": "bpatcher",
     "numinlets": 0,
     "numoutlets": 0,
     "patching_rect": [
      20,
      378,
      320,
      180
     ],
     "name": "coevo_device.maxpat",
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
      "obj-9",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-8",
      1
     ],
     "destination": [
      "obj-9",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-8",
      2
     ],
     "destination": [
      "obj-9",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-8",
      3
     ],
     "destination": [
      "obj-9",
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
      "obj-8",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-11",
      0
     ],
     "destination": [
      "obj-8",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-12",
      0
     ],
     "destination": [
      "obj-8",
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
