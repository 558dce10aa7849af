// coevo_clip.js: the logic of the Coevo Max for Live device (for Max's [js] or [v8] object).
//
// In:  the daemon's OSC events as udpreceive outputs them ("/coevo/phrase/begin p00012 8. 42", ...),
//      and the device's own messages: init (from live.thisdevice), ping (from a metro),
//      capture 0/1, write (put the last complete phrase into a clip now).
// Out: 0 -> OSC messages for udpsend (to the daemon), 1 -> connection status text,
//      2 -> key / tempo text, 3 -> what happened to the last phrase (for the device's display).
//
// A phrase arrives as begin, notes chunks (groups of pitch start duration velocity mute, in beats),
// end. Once it is complete and capture is on (or on "write"), it becomes a clip on this device's
// track: in the highlighted clip slot if that slot is on this track and empty, else in the next
// empty slot, through the Live API (create_clip, add_new_notes: Live 11 and later). Nothing
// touches the Live API before live.thisdevice has fired ("init").
// Written in ES5 so it runs in the classic [js] object as well as [v8], and under Node for tests.

autowatch = 1;
inlets = 1;
outlets = 4;

// where this patch's udpreceive listens: the daemon's default event port, or the object's argument
// ([js coevo_clip.js 9102] in coevo_control.maxpat, which subscribes on that port)
var REPLY_PORT = (typeof jsarguments !== "undefined" && jsarguments.length > 1) ? Number(jsarguments[1]) : 9101;
var PONG_TIMEOUT_MS = 3000;

var ready = false;
var capture = 1;
var phrases = {}; // id -> {length, expected, notes}
var lastComplete = null;
var lastPong = -1;
var pingCount = 0;

function toArray(args) {
    return Array.prototype.slice.call(args);
}

function now() {
    return new Date().getTime();
}

function init() {
    ready = true;
    outlet(3, "ready");
}

function ping() {
    pingCount += 1;
    outlet(0, "/coevo/ping", "max-" + pingCount, REPLY_PORT);
    var connected = lastPong >= 0 && now() - lastPong < PONG_TIMEOUT_MS;
    outlet(1, connected ? "connected" : "no daemon on port 9100");
}

function msg_int(value) {
    capture = value ? 1 : 0;
}

function write() {
    if (lastComplete === null) {
        outlet(3, "no phrase yet");
        return;
    }
    writeClip(lastComplete);
}

function phraseBegin(id, length, count) {
    phrases[id] = {id: id, length: length, expected: count, notes: []};
}

function phraseNotes(id, values) {
    var p = phrases[id];
    if (p === undefined) {
        return; // began before the device was listening
    }
    for (var i = 0; i + 4 < values.length; i += 5) {
        p.notes.push({pitch: values[i], start_time: values[i + 1], duration: values[i + 2],
                      velocity: values[i + 3], mute: values[i + 4] ? 1 : 0});
    }
}

function phraseEnd(id) {
    var p = phrases[id];
    delete phrases[id];
    if (p === undefined) {
        return;
    }
    if (p.notes.length !== p.expected) {
        outlet(3, "phrase " + id + " incomplete: " + p.notes.length + " of " + p.expected + " notes arrived");
        return;
    }
    lastComplete = p;
    if (capture) {
        writeClip(p);
    }
}

function state(values) {
    // bar bpm valence arousal tonic mode bars alpha played_mode: show the scale that plays
    if (values.length >= 6) {
        var mode = String(values.length >= 9 ? values[8] : values[5]).replace("_", " ");
        outlet(2, values[4] + " " + mode + " " + Math.round(values[1] * 10) / 10 + " BPM");
    }
}

function handle(address, values) {
    if (address === "/coevo/phrase/begin") {
        phraseBegin(String(values[0]), Number(values[1]), Number(values[2]));
    } else if (address === "/coevo/phrase/notes") {
        phraseNotes(String(values[0]), values.slice(2));
    } else if (address === "/coevo/phrase/end") {
        phraseEnd(String(values[0]));
    } else if (address === "/coevo/pong") {
        lastPong = now();
        outlet(1, "connected");
    } else if (address === "/coevo/state") {
        state(values);
    }
}

function anything() {
    handle(messagename, toArray(arguments));
}

function emptySlot(trackPath) {
    // the highlighted slot when it is on this track and empty, else the first empty slot of the track
    var highlighted = new LiveAPI("live_set view highlighted_clip_slot");
    if (Number(highlighted.id) !== 0 && String(highlighted.unquotedpath).indexOf(trackPath + " ") === 0 &&
        Number(highlighted.get("has_clip")) === 0) {
        return String(highlighted.unquotedpath);
    }
    var track = new LiveAPI(trackPath);
    var count = track.getcount("clip_slots");
    for (var i = 0; i < count; i++) {
        var slot = new LiveAPI(trackPath + " clip_slots " + i);
        if (Number(slot.get("has_clip")) === 0) {
            return trackPath + " clip_slots " + i;
        }
    }
    return null;
}

function writeClip(p) {
    if (!ready) {
        outlet(3, "waiting for Live: the device is not ready yet");
        return false;
    }
    var device = new LiveAPI("this_device canonical_parent");
    var trackPath = String(device.unquotedpath);
    var slotPath = emptySlot(trackPath);
    if (slotPath === null) {
        outlet(3, "no empty clip slot on this track");
        return false;
    }
    var slot = new LiveAPI(slotPath);
    slot.call("create_clip", p.length);
    var clip = new LiveAPI(slotPath + " clip");
    if (p.notes.length > 0) {
        clip.call("add_new_notes", {notes: p.notes});
    }
    clip.set("name", "coevo " + p.id);
    outlet(3, "phrase " + p.id + " -> " + slotPath.split(" ").slice(-2).join(" "));
    return true;
}

if (typeof module !== "undefined") {
    module.exports = {
        handle: handle, init: init, ping: ping, write: write, msg_int: msg_int,
        reset: function () {
            ready = false; capture = 1; phrases = {}; lastComplete = null; lastPong = -1; pingCount = 0;
        }
    };
}
