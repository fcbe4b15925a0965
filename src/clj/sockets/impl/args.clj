(ns ^:no-doc sockets.impl.args
  "The argument layer: every check the library makes of a caller's argument, written once.

  Each check returns the value in the form the Java core takes (a Socket, a ByteBuffer, an
  int, a long timeout) or throws `sockets.SocketException` of :kind :invalid (nothing was
  done) with one message style: \"<op>: <what> must be <rule>, not <value>\". The values in
  messages are printed short (a 1 MB string or a long vector does not make a 1 MB message).

  Checks: `socket`, `send-buffer` / `receive-buffer` / `buffers` / `region` (byte arrays,
  ByteBuffers and, for sending, strings as UTF-8), `utf8` (strict: an unencodable string,
  e.g. a lone UTF-16 surrogate, is refused), `flags`, `timeout-ms`, `options` (a map, with
  renamed keys refused naming the new one), `int-in` and `size` (integer ranges and caps),
  `file-source` (a file to send)."
  (:require [sockets.constants :as c])
  (:import (java.nio ByteBuffer CharBuffer)
           (java.nio.charset CharacterCodingException CodingErrorAction StandardCharsets)
           (sockets Socket SocketException)))

(set! *warn-on-reflection* true)

(defn show
  "A short printed form of `v` for an error message (at most about 100 characters)."
  ^String [v]
  (let [s (binding [*print-length* 8 *print-level* 3]
            (cond (nil? v) "nil"
                  (bytes? v) (str "a byte array of " (alength ^bytes v) " bytes")
                  (instance? ByteBuffer v) (str "a ByteBuffer of " (.remaining ^ByteBuffer v) " bytes")
                  (string? v) (if (> (count v) 60)
                                (str (pr-str (subs v 0 40)) "... (" (count v) " chars)")
                                (pr-str v))
                  :else (try (pr-str v) (catch Exception _ (str (class v))))))]
    (if (> (count s) 100) (str (subs s 0 97) "...") s)))

(defn fail
  "The :invalid SocketException \"<op>: <what> must be <rule>, not <value>\"."
  ^SocketException [op what rule v]
  (c/invalid op (str (c/op-name op) ": " what " must be " rule ", not " (show v))))

(defn refuse
  "The :invalid SocketException \"<op>: <message>\" for a refusal that is not about one value's
  rule (e.g. start after end)."
  ^SocketException [op msg]
  (c/invalid op (str (c/op-name op) ": " msg)))

;; ------------------------------------------------------------------ sockets

(defn socket
  "`x` as a `sockets.Socket`, or :invalid."
  ^Socket [op x]
  (if (instance? Socket x) x (throw (fail op "the socket" "a sockets.Socket" x))))

;; ------------------------------------------------------------------ integers

(defn int-in
  "`x` (any integer class) as a long when lo <= x <= hi (longs), else :invalid naming `what`."
  [op what x lo hi]
  (if (c/int-in? x lo hi)
    (long x)
    (throw (fail op what (str "an integer in " lo "-" hi) x))))

(defn size
  "`x` as a long when 0 <= x <= `cap` (a documented size cap), else :invalid."
  ^long [op what x cap]
  (int-in op what x 0 cap))

(def ^:const max-timeout-ms
  "The largest timeout the Java core can count as a deadline (nanoTime + ms * 10^6 must not
  overflow): about 146 years. A larger one (up to Long/MAX_VALUE) is taken as no timeout."
  (quot Long/MAX_VALUE 2000000))

(defn timeout-ms
  "A timeout in ms as the Java core takes it: nil (wait forever) gives -1, a non-negative
  integer up to Long/MAX_VALUE gives itself (beyond `max-timeout-ms`: -1, forever). Anything
  else is :invalid."
  ^long [op what x]
  (cond (nil? x) -1
        (c/int-in? x 0 Long/MAX_VALUE) (let [v (long x)] (if (> v max-timeout-ms) -1 v))
        :else (throw (fail op what "nil or a non-negative integer of milliseconds" x))))

;; ------------------------------------------------------------------ flags

(defn flags
  "Flags of constant `kind` (:msg, :ai, :ni) as an int: nil, an integer, a keyword or a
  collection of them (see `sockets.constants/flags->int`)."
  ^long [op kind x]
  (c/flags->int kind x op))

;; ------------------------------------------------------------------ options maps

(defn options
  "`x` as an options map (nil gives {}), or :invalid. `renamed` is {old-key new-key}: a map
  using an old key is refused with a message naming the new one."
  ([op x] (options op x nil))
  ([op x renamed]
   (cond (nil? x) {}
         (map? x) (do (doseq [[old new] renamed :when (contains? x old)]
                        (throw (refuse op (str old " is now " new))))
                      x)
         :else (throw (fail op "options" "a map" x)))))

(def renamed-keys
  "Option keys the library renamed: {old new}, one name per meaning across namespaces."
  {:timeout :timeout-ms
   :receive-timeout :receive-timeout-ms
   :send-timeout :send-timeout-ms
   :attempt-delay :attempt-delay-ms})

;; ------------------------------------------------------------------ strings and buffers

(defn utf8
  "The UTF-8 bytes of string `s`, encoded strictly: a string UTF-8 cannot encode (a lone
  UTF-16 surrogate) is :invalid, never replaced by '?'."
  ^bytes [op what s]
  (when-not (string? s) (throw (fail op what "a string" s)))
  (let [^String s s]
    (if (every? #(not (Character/isSurrogate (char %))) s)
      (.getBytes s StandardCharsets/UTF_8)
      (try (let [bb (.encode (-> (.newEncoder StandardCharsets/UTF_8)
                                 (.onMalformedInput CodingErrorAction/REPORT)
                                 (.onUnmappableCharacter CodingErrorAction/REPORT))
                             (CharBuffer/wrap s))
                 b (byte-array (.remaining bb))]
             (.get bb b)
             b)
           (catch CharacterCodingException _
             (throw (fail op what "encodable as UTF-8 (no lone UTF-16 surrogates)" s)))))))

(defn send-buffer
  "Data to send as a ByteBuffer: a byte array (wrapped), a ByteBuffer (itself: its remaining
  bytes) or a string (strict UTF-8). Anything else is :invalid."
  ^ByteBuffer [op what x]
  (cond (bytes? x) (ByteBuffer/wrap ^bytes x)
        (instance? ByteBuffer x) x
        (string? x) (ByteBuffer/wrap (utf8 op what x))
        :else (throw (fail op what "a byte array, a ByteBuffer or a string" x))))

(defn receive-buffer
  "A buffer to receive into as a ByteBuffer: a byte array (wrapped) or a writable ByteBuffer
  (itself). Anything else, a read-only ByteBuffer included, is :invalid."
  ^ByteBuffer [op what x]
  (cond (bytes? x) (ByteBuffer/wrap ^bytes x)
        (instance? ByteBuffer x) (if (.isReadOnly ^ByteBuffer x)
                                   (throw (fail op what "writable" x))
                                   x)
        :else (throw (fail op what "a byte array or a ByteBuffer" x))))

(defn buffers
  "An array of ByteBuffers from `data`: one buffer, or a sequential collection of 1 to
  `max-count` of them (each as `send-buffer`, or `receive-buffer` when not `sending?`)."
  ^"[Ljava.nio.ByteBuffer;" [op what data sending? max-count]
  (let [one (if sending? send-buffer receive-buffer)]
    (if (sequential? data)
      (let [max-count (long max-count)
            n (bounded-count (inc max-count) data)]
        (when-not (<= 1 n max-count)
          (throw (fail op what (str "a sequence of 1 to " max-count " buffers") (if (> n max-count) (str n "+ buffers") data))))
        (let [a (make-array ByteBuffer n)]
          (loop [i 0 xs (seq data)]
            (when xs
              (aset ^"[Ljava.nio.ByteBuffer;" a i ^ByteBuffer (one op what (first xs)))
              (recur (inc i) (next xs))))
          a))
      (doto ^"[Ljava.nio.ByteBuffer;" (make-array ByteBuffer 1)
        (aset 0 ^ByteBuffer (one op what data))))))

(defn implicit?
  "True when a ByteBuffer is used from its position to its limit (no start/end given)."
  [buf start end]
  (and (instance? ByteBuffer buf) (nil? start) (nil? end)))

(defn region
  "A ByteBuffer over [start, end) of `buf` (byte array, ByteBuffer, or for sending a string as
  UTF-8), checked before anything native runs. A ByteBuffer with no start/end is used from its
  position to its limit; otherwise indices are absolute and its position is left alone."
  ^ByteBuffer [op buf start end sending?]
  (let [^ByteBuffer bb (if sending? (send-buffer op "the buffer" buf) (receive-buffer op "the buffer" buf))
        bb (if (identical? bb buf) (.duplicate bb) bb)]
    (if (implicit? buf start end)
      (.slice bb)
      (let [limit (.limit bb)
            st (int-in op "start" (or start 0) 0 Integer/MAX_VALUE)
            en (if (nil? end) limit (int-in op "end" end 0 Integer/MAX_VALUE))]
        (when (> st en) (throw (refuse op (str "start " st " is after end " en))))
        (when (> en limit) (throw (fail op "end" (str "at most the buffer's length " limit) en)))
        (.slice (.limit (.position bb (int st)) (int en)))))))

(defn file-source
  "`file` as what Socket.sendFile takes: an open java.nio.channels.FileChannel (itself) or the
  java.nio.file.Path of an existing file that is not a directory (from a path string, a
  java.io.File or a Path); anything else is :invalid."
  [op file]
  (let [no-links (make-array java.nio.file.LinkOption 0)
        path (fn [f] (try (cond (instance? java.nio.file.Path f) f
                                (instance? java.io.File f) (.toPath ^java.io.File f)
                                (string? f) (java.nio.file.Paths/get ^String f (make-array String 0)))
                          (catch java.nio.file.InvalidPathException _ nil)))]
    (if (instance? java.nio.channels.FileChannel file)
      (if (.isOpen ^java.nio.channels.FileChannel file) file (throw (fail op "the FileChannel" "open" file)))
      (let [^java.nio.file.Path p (path file)]
        (if (and p (java.nio.file.Files/exists p no-links) (not (java.nio.file.Files/isDirectory p no-links)))
          p
          (throw (fail op "the file" (str "an existing file (a path string, java.io.File, java.nio.file.Path"
                                               " or FileChannel), not a directory") file)))))))
