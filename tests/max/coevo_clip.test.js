// Node tests of max_patches/coevo_clip.js with a small fake of Max's LiveAPI and outlets.
// Run: node --test tests/max/
"use strict";

const test = require("node:test");
const assert = require("node:assert");
const path = require("node:path");

// ---- a fake Live set: tracks of clip slots, reached by Live API paths --------------------------
class FakeLive {
    constructor(tracks, slots, deviceTrack) {
        this.tracks = [];
        for (let t = 0; t < tracks; t++) {
            this.tracks.push(Array.from({length: slots}, () => ({clip: null})));
        }
        this.deviceTrack = deviceTrack;
        this.highlighted = null; // [track, slot]
        this.calls = [];
    }
    resolve(p) {
        if (p === "this_device canonical_parent") return `live_set tracks ${this.deviceTrack}`;
        if (p === "live_set view highlighted_clip_slot") {
            return this.highlighted ? `live_set tracks ${this.highlighted[0]} clip_slots ${this.highlighted[1]}` : null;
        }
        return p;
    }
    object(p) {
        const m = /^live_set tracks (\d+)(?: clip_slots (\d+))?( clip)?$/.exec(p || "");
        if (!m) return null;
        const track = this.tracks[Number(m[1])];
        if (!track) return null;
        if (m[2] === undefined) return {kind: "track", track};
        const slot = track[Number(m[2])];
        if (!slot) return null;
        if (m[3]) return slot.clip ? {kind: "clip", clip: slot.clip} : null;
        return {kind: "slot", slot};
    }
}

let live;
const out = [];

function makeLiveAPI(fake) {
    return class LiveAPI {
        constructor(p) {
            if (!globalThis.liveReady) throw new Error("LiveAPI used before live.thisdevice fired");
            this.unquotedpath = fake.resolve(p);
            this.target = fake.object(this.unquotedpath);
            this.id = this.target ? 1 : 0;
        }
        get(prop) {
            if (prop === "has_clip" && this.target.kind === "slot") return [this.target.slot.clip ? 1 : 0];
            throw new Error(`get ${prop} on ${this.unquotedpath}`);
        }
        getcount(prop) {
            if (prop === "clip_slots" && this.target.kind === "track") return this.target.track.length;
            throw new Error(`getcount ${prop}`);
        }
        set(prop, value) {
            fake.calls.push(["set", this.unquotedpath, prop, value]);
            this.target.clip[prop] = value;
        }
        call(name, arg) {
            fake.calls.push(["call", this.unquotedpath, name, arg]);
            if (name === "create_clip") {
                if (this.target.slot.clip) throw new Error("slot already has a clip");
                this.target.slot.clip = {length: arg, notes: [], name: ""};
            } else if (name === "add_new_notes") {
                this.target.clip.notes.push(...arg.notes);
            } else {
                throw new Error(`call ${name}`);
            }
        }
    };
}

function load() {
    const file = path.join(__dirname, "..", "..", "max_patches", "coevo_clip.js");
    delete require.cache[require.resolve(file)];
    return require(file);
}

function setup(tracks = 3, slots = 4, deviceTrack = 1) {
    live = new FakeLive(tracks, slots, deviceTrack);
    out.length = 0;
    globalThis.liveReady = false;
    globalThis.LiveAPI = makeLiveAPI(live);
    globalThis.outlet = (...args) => out.push(args);
    const device = load();
    device.reset();
    return device;
}

function init(device) {
    globalThis.liveReady = true;
    device.init();
}

// a phrase as the daemon sends it: begin, notes chunks of at most 64 groups, end
function sendPhrase(device, id, notes, lengthBeats = 8) {
    device.handle("/coevo/phrase/begin", [id, lengthBeats, notes.length]);
    for (let c = 0; c * 64 < notes.length || (c === 0 && notes.length === 0); c++) {
        const groups = notes.slice(c * 64, c * 64 + 64).flatMap(n => [n[0], n[1], n[2], n[3], n[4]]);
        device.handle("/coevo/phrase/notes", [id, c, ...groups]);
        if (notes.length === 0) break;
    }
    device.handle("/coevo/phrase/end", [id]);
}

function notes(n) {
    return Array.from({length: n}, (_, i) => [48 + (i % 24), i * 0.25, 0.25, 60 + (i % 60), i % 7 === 0 ? 1 : 0]);
}

test("a complete phrase becomes a clip in the first empty slot of the device's track", () => {
    const device = setup();
    init(device);
    live.tracks[1][0].clip = {length: 4, notes: [], name: "mine"};
    const sent = notes(150);
    sendPhrase(device, "p00001", sent);
    const clip = live.tracks[1][1].clip;
    assert.ok(clip, "clip written into slot 1");
    assert.strictEqual(clip.length, 8);
    assert.strictEqual(clip.name, "coevo p00001");
    assert.deepStrictEqual(clip.notes.map(n => [n.pitch, n.start_time, n.duration, n.velocity, n.mute]), sent);
    assert.strictEqual(live.tracks[1][0].clip.name, "mine", "an existing clip is never touched");
    assert.ok(out.some(o => o[0] === 3 && /p00001 -> clip_slots 1/.test(o[1])));
});

test("the highlighted slot is used when it is on this track and empty", () => {
    const device = setup();
    init(device);
    live.highlighted = [1, 3];
    sendPhrase(device, "p00002", notes(3));
    assert.ok(live.tracks[1][3].clip);
    assert.strictEqual(live.tracks[1][0].clip, null);
    live.highlighted = [0, 0]; // another track: ignored
    sendPhrase(device, "p00003", notes(3));
    assert.strictEqual(live.tracks[0][0].clip, null);
    assert.ok(live.tracks[1][0].clip);
});

test("nothing touches the Live API before live.thisdevice has fired", () => {
    const device = setup();
    sendPhrase(device, "p00004", notes(5));
    assert.strictEqual(live.calls.length, 0);
    assert.ok(out.some(o => o[0] === 3 && /not ready/.test(o[1])));
    init(device);
    device.write(); // the phrase was kept and can be written now
    assert.ok(live.tracks[1][0].clip);
    assert.strictEqual(live.tracks[1][0].clip.notes.length, 5);
});

test("an incomplete phrase is reported and not written", () => {
    const device = setup();
    init(device);
    device.handle("/coevo/phrase/begin", ["p00005", 8, 10]);
    device.handle("/coevo/phrase/notes", ["p00005", 0, ...notes(4).flat()]);
    device.handle("/coevo/phrase/end", ["p00005"]);
    assert.strictEqual(live.calls.length, 0);
    assert.ok(out.some(o => o[0] === 3 && /incomplete: 4 of 10/.test(o[1])));
});

test("with capture off, phrases are kept and written only on request", () => {
    const device = setup();
    init(device);
    device.msg_int(0);
    sendPhrase(device, "p00006", notes(2));
    assert.strictEqual(live.calls.length, 0);
    device.write();
    assert.strictEqual(live.tracks[1][0].clip.name, "coevo p00006");
});

test("a full track is reported, not overwritten", () => {
    const device = setup(2, 2, 0);
    init(device);
    live.tracks[0][0].clip = {length: 4, notes: [], name: "a"};
    live.tracks[0][1].clip = {length: 4, notes: [], name: "b"};
    sendPhrase(device, "p00007", notes(2));
    assert.deepStrictEqual(live.tracks[0].map(s => s.clip.name), ["a", "b"]);
    assert.ok(out.some(o => o[0] === 3 && /no empty clip slot/.test(o[1])));
});

test("ping asks for the pong on the device's port; status and key/tempo are shown", () => {
    const device = setup();
    device.ping();
    assert.deepStrictEqual(out[0], [0, "/coevo/ping", "max-1", 9101]);
    assert.deepStrictEqual(out[1], [1, "no daemon on port 9100"]);
    device.handle("/coevo/pong", ["max-1"]);
    device.ping();
    assert.deepStrictEqual(out[out.length - 1], [1, "connected"]);
    device.handle("/coevo/state", [12, 96.0, 0.5, -0.6, "A", "minor", 2, 0.5]);
    assert.deepStrictEqual(out[out.length - 1], [2, "A minor 96 BPM"]);
    // a daemon that says which scale plays (mood shaping) is shown with that scale
    device.handle("/coevo/state", [13, 96.0, -0.7, -0.5, "C", "major", 2, 0.5, "harmonic_minor"]);
    assert.deepStrictEqual(out[out.length - 1], [2, "C harmonic minor 96 BPM"]);
});
