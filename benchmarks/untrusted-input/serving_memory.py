"""Starts the ServingApi sample on a loopback port, posts files, and reports the server's memory (Linux /proc).

Five requests of a small valid image first, then the files with <concurrency> clients; prints each answer's
status and time, the server's RSS at start, its peak (VmHWM), right after the burst and after <idle> seconds.
The server is killed if its RSS passes <cap MB>, so a regression cannot take the machine down.
Usage: python3 serving_memory.py <ServingApi.dll> <model.zip> <cap MB> <concurrency> <idle s> <ok.png> file [file...]
"""
import os, sys, time, threading, subprocess, urllib.request, socket, json
dll, model, cap, conc, idle, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
files = sys.argv[7:]
s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
url = f'http://127.0.0.1:{port}'
env = dict(os.environ)
p = subprocess.Popen(['dotnet', dll, '--ModelPath', model, '--urls', url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
def status():
    d = {}
    for l in open(f'/proc/{p.pid}/status'):
        k, _, v = l.partition(':')
        if k in ('VmRSS', 'VmHWM'): d[k] = int(v.split()[0]) // 1024
    return d
for _ in range(600):
    try:
        urllib.request.urlopen(url + '/health', timeout=1).read(); break
    except Exception: time.sleep(0.2)
ok = open(warmup, 'rb').read()
for _ in range(5):
    urllib.request.urlopen(urllib.request.Request(url + '/predict', data=ok), timeout=30).read()
base = status(); print('baseline', base, flush=True)
peak = [0]; stop = [False]; killed = [False]
def sampler():
    while not stop[0] and p.poll() is None:
        try:
            st = status(); peak[0] = max(peak[0], st['VmRSS'])
            if st['VmRSS'] > cap: killed[0] = True; p.kill(); break
        except Exception: break
        time.sleep(0.05)
threading.Thread(target=sampler, daemon=True).start()
results = []
lock = threading.Lock()
queue = list(files)
def worker():
    while True:
        with lock:
            if not queue: return
            f = queue.pop(0)
        t = time.time()
        try:
            r = urllib.request.urlopen(urllib.request.Request(url + '/predict', data=open(f, 'rb').read()), timeout=300)
            code = r.status; body = r.read()[:120]
        except urllib.error.HTTPError as e: code = e.code; body = e.read()[:200]
        except Exception as e: code = repr(e)[:80]; body = b''
        with lock: results.append((os.path.basename(f), code, round(time.time() - t, 2), body.decode(errors='replace')))
start = time.time()
ts = [threading.Thread(target=worker) for _ in range(conc)]
[t.start() for t in ts]; [t.join() for t in ts]
print('burst seconds', round(time.time() - start, 1))
for r in results: print(r)
if p.poll() is None:
    after = status(); print('after burst', after, 'sampled peak RSS', peak[0], 'MB')
    time.sleep(idle)
    print(f'after {idle} s idle', status())
else:
    print('server gone, killed by cap' if killed[0] else f'server exited {p.returncode}', 'sampled peak RSS', peak[0])
stop[0] = True
if p.poll() is None: p.terminate(); p.wait()
