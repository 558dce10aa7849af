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
   120,
   120,
   900,
   700
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
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      150,
      20,
      120,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "udpreceive 9102"
    }
   },
   {
    "box": {
     "id": "obj-2",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      300,
      20,
      70,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "loadbang"
    }
   },
   {
    "box": {
     "id": "obj-3",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      300,
      60,
      80,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "metro 1000"
    }
   },
   {
    "box": {
     "id": "obj-4",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      300,
      100,
      40,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "ping"
    }
   },
   {
    "box": {
     "id": "obj-5",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      420,
      100,
      150,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/subscribe 9102"
    }
   },
   {
    "box": {
     "id": "obj-6",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      420,
      60,
      30,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "0"
    }
   },
   {
    "box": {
     "id": "obj-7",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 4,
     "patching_rect": [
      150,
      140,
      150,
      22
     ],
     "outlettype": [
      "",
      "",
      "",
      ""
     ],
     "text": "js coevo_clip.js 9102"
    }
   },
   {
    "box": {
     "id": "obj-8",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      150,
      240,
      170,
      22
     ],
     "text": "udpsend 127.0.0.1 9100"
    }
   },
   {
    "box": {
     "id": "obj-9",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20,
      640,
      600,
      22
     ],
     "text": "Coevo control for Max: the events arrive on port 9102 (subscribed each second)."
    }
   },
   {
    "box": {
     "id": "obj-10",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      20,
      300,
      80,
      22
     ],
     "outlettype": [
      "",
      ""
     ],
     "text": "Like",
     "presentation": 1,
     "presentation_rect": [
      10,
      10,
      64,
      20
     ],
     "mode": 0,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "coevo like",
       "parameter_shortname": "coevo like",
       "parameter_mmin": 0,
       "parameter_mmax": 1,
       "parameter_type": 2
      }
     },
     "varname": "coevo_like"
    }
   },
   {
    "box": {
     "id": "obj-11",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20,
      340,
      160,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/feedback/like"
    }
   },
   {
    "box": {
     "id": "obj-12",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      110,
      300,
      80,
      22
     ],
     "outlettype": [
      "",
      ""
     ],
     "text": "Dislike",
     "presentation": 1,
     "presentation_rect": [
      80,
      10,
      64,
      20
     ],
     "mode": 0,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "coevo dislike",
       "parameter_shortname": "coevo dislike",
       "parameter_mmin": 0,
       "parameter_mmax": 1,
       "parameter_type": 2
      }
     },
     "varname": "coevo_dislike"
    }
   },
   {
    "box": {
     "id": "obj-13",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      110,
      340,
      160,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/feedback/dislike"
    }
   },
   {
    "box": {
     "id": "obj-14",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      200,
      300,
      80,
      22
     ],
     "outlettype": [
      "",
      ""
     ],
     "text": "Generate",
     "presentation": 1,
     "presentation_rect": [
      150,
      10,
      64,
      20
     ],
     "mode": 0,
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "coevo generate",
       "parameter_shortname": "coevo generate",
       "parameter_mmin": 0,
       "parameter_mmax": 1,
       "parameter_type": 2
      }
     },
     "varname": "coevo_generate"
    }
   },
   {
    "box": {
     "id": "obj-15",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      200,
      340,
      160,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/generate"
    }
   },
   {
    "box": {
     "id": "obj-16",
     "maxclass": "pictslider",
     "numinlets": 2,
     "numoutlets": 2,
     "patching_rect": [
      300,
      300,
      100,
      100
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      220,
      10,
      60,
      60
     ],
     "annotation": "Mood: left-right valence, bottom-top arousal"
    }
   },
   {
    "box": {
     "id": "obj-17",
     "maxclass": "newobj",
     "numinlets": 6,
     "numoutlets": 1,
     "patching_rect": [
      300,
      410,
      120,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "scale 0 127 -1. 1."
    }
   },
   {
    "box": {
     "id": "obj-18",
     "maxclass": "newobj",
     "numinlets": 6,
     "numoutlets": 1,
     "patching_rect": [
      430,
      410,
      120,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "scale 0 127 -1. 1."
    }
   },
   {
    "box": {
     "id": "obj-19",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      300,
      440,
      60,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "pak f f"
    }
   },
   {
    "box": {
     "id": "obj-20",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      300,
      470,
      160,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/emotion $1 $2"
    }
   },
   {
    "box": {
     "id": "obj-21",
     "maxclass": "live.dial",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      20,
      520,
      44,
      48
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      10,
      80,
      44,
      48
     ],
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "register",
       "parameter_shortname": "register",
       "parameter_mmin": -1.0,
       "parameter_mmax": 1.0,
       "parameter_type": 0
      }
     },
     "varname": "register"
    }
   },
   {
    "box": {
     "id": "obj-22",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20,
      580,
      150,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/axis register $1"
    }
   },
   {
    "box": {
     "id": "obj-23",
     "maxclass": "live.dial",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      110,
      520,
      44,
      48
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      60,
      80,
      44,
      48
     ],
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "polyphony",
       "parameter_shortname": "polyphony",
       "parameter_mmin": -1.0,
       "parameter_mmax": 1.0,
       "parameter_type": 0
      }
     },
     "varname": "polyphony"
    }
   },
   {
    "box": {
     "id": "obj-24",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      110,
      580,
      150,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/axis polyphony $1"
    }
   },
   {
    "box": {
     "id": "obj-25",
     "maxclass": "live.dial",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      200,
      520,
      44,
      48
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      110,
      80,
      44,
      48
     ],
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "rhythm",
       "parameter_shortname": "rhythm",
       "parameter_mmin": -1.0,
       "parameter_mmax": 1.0,
       "parameter_type": 0
      }
     },
     "varname": "rhythm"
    }
   },
   {
    "box": {
     "id": "obj-26",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      200,
      580,
      150,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/axis rhythm $1"
    }
   },
   {
    "box": {
     "id": "obj-27",
     "maxclass": "live.dial",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      290,
      520,
      44,
      48
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      160,
      80,
      44,
      48
     ],
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "density",
       "parameter_shortname": "density",
       "parameter_mmin": -1.0,
       "parameter_mmax": 1.0,
       "parameter_type": 0
      }
     },
     "varname": "density"
    }
   },
   {
    "box": {
     "id": "obj-28",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      290,
      580,
      150,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/axis density $1"
    }
   },
   {
    "box": {
     "id": "obj-29",
     "maxclass": "live.numbox",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      420,
      520,
      44,
      22
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      220,
      80,
      44,
      20
     ],
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "coevo bars",
       "parameter_shortname": "coevo bars",
       "parameter_mmin": 1,
       "parameter_mmax": 8,
       "parameter_type": 1
      }
     },
     "varname": "coevo_bars"
    }
   },
   {
    "box": {
     "id": "obj-30",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      420,
      580,
      110,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "/coevo/bars $1"
    }
   },
   {
    "box": {
     "id": "obj-31",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      600,
      300,
      80,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend set"
    }
   },
   {
    "box": {
     "id": "obj-32",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      600,
      330,
      220,
      22
     ],
     "text": "(status)",
     "presentation": 1,
     "presentation_rect": [
      10,
      140,
      280,
      18
     ]
    }
   },
   {
    "box": {
     "id": "obj-33",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      600,
      360,
      80,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend set"
    }
   },
   {
    "box": {
     "id": "obj-34",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      600,
      390,
      220,
      22
     ],
     "text": "(key and tempo)",
     "presentation": 1,
     "presentation_rect": [
      10,
      158,
      280,
      18
     ]
    }
   },
   {
    "box": {
     "id": "obj-35",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      600,
      420,
      80,
      22
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend set"
    }
   },
   {
    "box": {
     "id": "obj-36",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      600,
      450,
      220,
      22
     ],
     "text": "(last phrase)",
     "presentation": 1,
     "presentation_rect": [
      10,
      176,
      280,
      18
     ]
    }
   }
  ],
  "lines": [
   {
    "patchline": {
     "source": [
      "obj-1",
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
      "obj-2",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-2",
      0
     ],
     "destination": [
      "obj-6",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-6",
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
      "obj-3",
      0
     ],
     "destination": [
      "obj-4",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-4",
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
      "obj-5",
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
      "obj-7",
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
      "obj-10",
      0
     ],
     "destination": [
      "obj-11",
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
      "obj-13",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-13",
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
      "obj-14",
      0
     ],
     "destination": [
      "obj-15",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-15",
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
      "obj-16",
      0
     ],
     "destination": [
      "obj-17",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-16",
      1
     ],
     "destination": [
      "obj-18",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-17",
      0
     ],
     "destination": [
      "obj-19",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-18",
      0
     ],
     "destination": [
      "obj-19",
      1
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-19",
      0
     ],
     "destination": [
      "obj-20",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-20",
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
      "obj-21",
      0
     ],
     "destination": [
      "obj-22",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-22",
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
      "obj-23",
      0
     ],
     "destination": [
      "obj-24",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-24",
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
      "obj-25",
      0
     ],
     "destination": [
      "obj-26",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-26",
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
      "obj-27",
      0
     ],
     "destination": [
      "obj-28",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-28",
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
      "obj-29",
      0
     ],
     "destination": [
      "obj-30",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-30",
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
      "obj-7",
      1
     ],
     "destination": [
      "obj-31",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-31",
      0
     ],
     "destination": [
      "obj-32",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-7",
      2
     ],
     "destination": [
      "obj-33",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-33",
      0
     ],
     "destination": [
      "obj-34",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-7",
      3
     ],
     "destination": [
      "obj-35",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-35",
      0
     ],
     "destination": [
      "obj-36",
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
  "autosave": 0,
  "openinpresentation": 1
 }
}
