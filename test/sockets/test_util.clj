(ns sockets.test-util
  "Helpers for the test suite: fd counting, temp dirs, loopback servers."
  (:require [clojure.test :refer [is]]
            [sockets.core :as s])
  (:import (java.io File)
           (java.nio.file Files)
           (java.nio.file.attribute FileAttribute)))

(set! *warn-on-reflection* true)

(declare fd-targets)

(defn fd-count
  "Open fds of this process, from /proc/self/fd, less the JVM's own (see `fd-targets`)."
  []
  (count (fd-targets)))

(defn- jvm-own?
  "True for an fd target only the JVM opens, never this library: the container statistics it
  reads (/sys/fs/cgroup/..., /proc/...), which CI once saw held open past the 2 s settle."
  [^String target]
  (or (.startsWith target "/sys/fs/cgroup/") (.startsWith target "/proc/")))

(defn fd-targets
  "{fd target} of this process's open fds. An fd that is gone by the time its link is read
  (another thread closed it while the directory was listed) is left out, and so are the JVM's
  own reads of /sys/fs/cgroup and /proc."
  []
  (into {} (for [^File f (.listFiles (File. "/proc/self/fd"))
                 :let [target (try (str (Files/readSymbolicLink (.toPath f))) (catch Exception _ nil))]
                 :when (and target (not (jvm-own? target)))]
             [(.getName f) target])))

(defn leaked-fds
  "{fd target} of the fds in `after` that are new since `before` (both from `fd-targets`): numbers
  not open before, or open again with another target (a number closed and reused)."
  [before after]
  (into (sorted-map) (remove (fn [[fd target]] (= target (get before fd)))) after))

(defn leak-message
  "The failure message for fd snapshots `before` and `after`: the counts and each leaked fd's target."
  [before after]
  (str "leaked fds: " (- (count after) (count before)) " more open (" (count before) " -> " (count after) "): "
       (pr-str (leaked-fds before after))))

(defn settled-fd-targets
  "`fd-targets` once their count is back to at most `before` (a count, or a snapshot from
  `fd-targets`), or after `ms` ms of waiting: a socket closed while another thread was inside
  a call is given back to the kernel when that call leaves, and the JVM itself briefly opens
  files of its own."
  [before ms]
  (let [limit (if (number? before) (long before) (count before))
        deadline (+ (System/currentTimeMillis) (long ms))]
    (loop []
      (let [now (fd-targets)]
        (if (and (> (count now) limit) (< (System/currentTimeMillis) deadline))
          (do (Thread/sleep 20) (recur))
          now)))))

(defn settled-fd-count
  "`fd-count` once it is back to at most `before` (a count from `fd-count`), or after 2 s."
  [before]
  (count (settled-fd-targets before 2000)))

(defmacro with-fd-check
  "Runs body and asserts the fd count is the same afterwards (allowing it 2 s to settle),
  naming the leaked fds' targets."
  [& body]
  `(let [before# (fd-targets)
         r# (do ~@body)
         after# (settled-fd-targets before# 2000)]
     (is (<= (count after#) (count before#)) (leak-message before# after#))
     r#))

(def ^:private warm-up
  ;; glibc's resolver keeps one socket of its own open after the first name lookup; make it
  ;; exist before any baseline so it is not counted as ours.
  (delay (s/address-information "localhost" 80)))

(defn fd-fixture
  "A :once fixture failing the namespace when it leaks fds (the count may settle for up to 2 s
  first, see `settled-fd-targets`)."
  [f]
  @warm-up
  (let [before (fd-targets)]
    (f)
    (let [after (settled-fd-targets before 2000)]
      (is (<= (count after) (count before)) (leak-message before after)))))

(defn temp-dir
  "A fresh temporary directory (deleted with its files by `delete-tree`)."
  ^File []
  (.toFile (Files/createTempDirectory "sockets-test" (make-array FileAttribute 0))))

(defn delete-tree [^File f]
  (when (.isDirectory f) (run! delete-tree (.listFiles f)))
  (.delete f))

(defmacro with-temp-dir [[sym] & body]
  `(let [~sym (temp-dir)]
     (try ~@body (finally (delete-tree ~sym)))))

(defn ^sockets.Socket listener
  "A listening stream socket on `addr` (default 127.0.0.1 port 0)."
  ([] (listener (s/inet-address "127.0.0.1" 0)))
  ([addr]
   (let [l (s/socket (s/sockaddr-family addr) :sock/stream)]
     (try (s/socket-bind l addr)
          (s/socket-listen l 128)
          l
          (catch Throwable t (s/socket-close* l) (throw t))))))

(defn connected-pair
  "[client server-side] connected stream sockets for the listening socket `l`."
  [l]
  (let [c (s/socket (s/socket-family l) :sock/stream)]
    (s/socket-connect c (s/socket-name l))
    [c (binding [s/*socket-accept-timeout* 5000] (s/socket-accept l))]))

(defn kind-of
  "The ex-data :kind of what `f` throws, or :no-error."
  [f]
  (try (f) :no-error (catch clojure.lang.ExceptionInfo e (:kind (ex-data e)))
       (catch sockets.SocketException e (:kind (ex-data e)))))

(defn cloexec?
  "True when fd `n` has FD_CLOEXEC, as fcntl(F_GETFD) reports it (this sandbox's
  /proc/self/fdinfo cannot be read); false when fcntl fails."
  [n]
  (let [fl (.fcntl sockets.impl.Native/LIBC (int n) sockets.impl.Native/F_GETFD 0)]
    (and (>= fl 0) (pos? (bit-and fl sockets.impl.Native/FD_CLOEXEC)))))

(defn nonblocking?
  "True when fd `n` has O_NONBLOCK, as fcntl(F_GETFL) reports it; false when fcntl fails."
  [n]
  (let [fl (.fcntl sockets.impl.Native/LIBC (int n) sockets.impl.Native/F_GETFL 0)]
    (and (>= fl 0) (pos? (bit-and fl sockets.impl.Native/O_NONBLOCK)))))

(def vt-factory
  "Thread.ofVirtual().factory() on JDK 21+, found by reflection so the suite compiles on 17;
  nil on 17."
  (delay
    (try
      (let [builder (.invoke (.getMethod Thread "ofVirtual" (make-array Class 0)) nil (object-array 0))]
        (.invoke (.getMethod (Class/forName "java.lang.Thread$Builder") "factory" (make-array Class 0))
                 builder (object-array 0)))
      (catch NoSuchMethodException _ nil))))

(def ^:private posix-instance (delay (jnr.posix.POSIXFactory/getNativePOSIX)))

(defn posix
  "The native jnr-posix POSIX (made once), for tests that open, dup or close raw fds."
  ^jnr.posix.POSIX []
  @posix-instance)

(defn cloexec-nonblock?
  "True when socket `so`'s fd is close-on-exec and non-blocking."
  [^sockets.Socket so]
  (and (cloexec? (.fileno so)) (nonblocking? (.fileno so))))

(defn run-child
  "Runs test/sockets/child/<script> in a child JVM (this JVM's java and classpath) with
  `jvm-opts`, `prefix` (a command such as prlimit, or nil) before java and `args` after the
  script. Returns {:exit :out :err}, waiting at most 180 s (then the child is killed and
  :exit is :timeout)."
  [prefix jvm-opts script & args]
  (let [java (str (File. (File. (System/getProperty "java.home") "bin") "java"))
        cmd (concat prefix [java "-Dsockets.child=true"] jvm-opts
                    ["-cp" (System/getProperty "java.class.path") "clojure.main" (str "test/sockets/child/" script)]
                    args)
        out (File/createTempFile "child" ".out")
        err (File/createTempFile "child" ".err")]
    (try
      (let [p (-> (ProcessBuilder. ^java.util.List (vec cmd)) (.redirectOutput out) (.redirectError err) (.start))
            done (.waitFor p 180 java.util.concurrent.TimeUnit/SECONDS)]
        (when-not done (.destroyForcibly p) (.waitFor p 10 java.util.concurrent.TimeUnit/SECONDS))
        {:exit (if done (.exitValue p) :timeout) :out (slurp out) :err (slurp err)})
      (finally (.delete out) (.delete err)))))

(defn wait-until
  "Polls `pred` every 5 ms until it is true or `ms` pass; returns its last value."
  [ms pred]
  (let [deadline (+ (System/currentTimeMillis) ms)]
    (loop []
      (or (pred) (if (< (System/currentTimeMillis) deadline) (do (Thread/sleep 5) (recur)) (pred))))))

(defn receive-all
  "Reads stream socket `so` to its EOF (each receive waiting at most 30 s); returns the bytes."
  ^bytes [so]
  (let [out (java.io.ByteArrayOutputStream.)
        buf (byte-array 65536)]
    (binding [s/*socket-receive-timeout* 30000]
      (loop []
        (let [n (s/socket-receive! so buf)]
          (when (pos? n) (.write out buf 0 (int n)) (recur)))))
    (.toByteArray out)))

(defmacro with-target
  "Runs body with `addr` bound to the address of a loopback server that runs (handler socket),
  on a thread of its own, for each connection it accepts (closing the socket after), and
  `result` bound to a promise of the first handler's value (or the exception it threw). After
  body: closes the listener and the accepted sockets, and waits (at most 5 s each) for the
  handlers to end."
  [[addr result handler] & body]
  `(with-open [l# (listener)]
     (let [~result (promise)
           h# ~handler
           handlers# (atom [])
           server# (future (try (loop [] (let [c# (s/socket-accept l#)]
                                               (swap! handlers# conj
                                                      [c# (future (with-open [c# c#]
                                                                    (deliver ~result (try (h# c#) (catch Exception e# e#)))))])
                                               (recur)))
                                (catch java.io.IOException _# nil)))
           ~addr (s/socket-name l#)]
       (try ~@body
            (finally (s/socket-close l#)
                     (deref server# 5000 nil)
                     (doseq [[c# f#] @handlers#] (s/socket-close* c#) (try (deref f# 5000 nil) (catch Exception _# nil))))))))
