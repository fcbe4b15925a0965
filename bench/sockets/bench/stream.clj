(ns sockets.bench.stream
  "Ping-pong (RTT) and bulk (GB/s) on any connected stream pair, so the TCP rows and the
  unix-socket rows measure with the same loops: NIO blocking channels, and this library's
  socket-send/socket-receive! with byte arrays or direct ByteBuffers."
  (:require [sockets.bench.harness :refer [cfg run-two close-all nio-read-fully nio-write-fully
                                           lib-read-fully lib-write-fully ping-client chunk-size bulk]]
            [sockets.core :as sc])
  (:import (java.nio ByteBuffer)
           (java.nio.channels SocketChannel)))

(set! *warn-on-reflection* true)

;; ------------------------------------------------------------------ ping-pong

(defn nio-pingpong
  "Median RTT (us) of size-byte round trips over NIO blocking channels, direct buffers, on the
  pair (open-pair) returns ([client server & more-to-close]); the server echoes on its own thread."
  [open-pair size pl ms]
  (let [[^SocketChannel c ^SocketChannel s :as all] (open-pair)]
    (try
      (second
       (run-two (:server pl) (fn []
                               (let [b (ByteBuffer/allocateDirect size)]
                                 (loop [] (.clear b)
                                   (when (nio-read-fully s b) (.flip b) (nio-write-fully s b) (recur)))))
                (:client pl) (fn []
                               (let [b (ByteBuffer/allocateDirect size)
                                     r (ping-client ms (fn []
                                                         (.clear b) (nio-write-fully c b)
                                                         (.clear b) (nio-read-fully c b)))]
                                 (.shutdownOutput c)
                                 r))))
      (finally (close-all all)))))

(defn- lib-read-direct
  "Receives until direct buffer b is full (socket-receive! from its position); false at EOF."
  [s ^ByteBuffer b]
  (.clear b)
  (loop []
    (if (.hasRemaining b)
      (if (zero? (long (sc/socket-receive! s b))) false (recur))
      true)))

(defn- lib-write-direct [s ^ByteBuffer b]
  (.clear b)
  (while (.hasRemaining b) (sc/socket-send s b)))

(defn lib-pingpong
  "Median RTT (us) of size-byte round trips with socket-send/socket-receive! (direct ByteBuffers
  when direct?, else byte arrays) on the pair (open-pair) returns ([client server & more])."
  [open-pair size direct? pl ms]
  (let [[c s :as all] (open-pair)
        n (long size)
        [rd! wr! mk] (if direct?
                       [(fn [s b] (lib-read-direct s b)) (fn [s b] (lib-write-direct s b)) #(ByteBuffer/allocateDirect n)]
                       [(fn [s b] (lib-read-fully s b n)) (fn [s b] (lib-write-fully s b n)) #(byte-array n)])]
    (try
      (second
       (run-two (:server pl) (fn []
                               (let [b (mk)]
                                 (loop [] (when (rd! s b) (wr! s b) (recur)))))
                (:client pl) (fn []
                               (let [b (mk)
                                     r (ping-client ms (fn [] (wr! c b) (rd! c b)))]
                                 (sc/socket-shutdown c :shut/wr)
                                 r))))
      (finally (close-all all)))))

;; ------------------------------------------------------------------ bulk

(defn nio-bulk
  "GB/s of 64 KiB writes over NIO blocking channels (direct or heap buffers) on the pair
  (open-pair) returns ([sender receiver & more-to-close])."
  [open-pair direct? pl _]
  (let [[^SocketChannel c ^SocketChannel s :as all] (open-pair)
        total (long (cfg :bulk-bytes))
        mk #(if direct? (ByteBuffer/allocateDirect chunk-size) (ByteBuffer/allocate chunk-size))]
    (try
      (bulk pl
            (fn [^long deadline]
              (let [^ByteBuffer b (mk)]
                (loop [sent 0]
                  (when (and (< sent total) (< (System/nanoTime) deadline))
                    (.clear b) (nio-write-fully c b) (recur (+ sent chunk-size)))))
              (.shutdownOutput c))
            (fn []
              (let [^ByteBuffer b (mk)]
                (loop [got 0]
                  (.clear b)
                  (let [r (.read s b)] (if (neg? r) got (recur (+ got r))))))))
      (finally (close-all all)))))

(defn lib-bulk
  "GB/s of 64 KiB socket-send/socket-receive! calls (direct ByteBuffers or byte arrays) on the
  pair (open-pair) returns ([sender receiver & more-to-close])."
  [open-pair direct? pl _]
  (let [[c s :as all] (open-pair)
        total (long (cfg :bulk-bytes))]
    (try
      (bulk pl
            (fn [^long deadline]
              (if direct?
                (let [b (ByteBuffer/allocateDirect chunk-size)]
                  (loop [sent 0]
                    (when (and (< sent total) (< (System/nanoTime) deadline))
                      (.clear b)
                      (while (.hasRemaining b) (sc/socket-send c b))
                      (recur (+ sent chunk-size)))))
                (let [b (byte-array chunk-size)]
                  (loop [sent 0]
                    (when (and (< sent total) (< (System/nanoTime) deadline))
                      (lib-write-fully c b chunk-size)
                      (recur (+ sent chunk-size))))))
              (sc/socket-shutdown c :shut/wr))
            (fn []
              (if direct?
                (let [b (ByteBuffer/allocateDirect chunk-size)]
                  (loop [got 0]
                    (.clear b)
                    (let [r (long (sc/socket-receive! s b))] (if (zero? r) got (recur (+ got r))))))
                (let [b (byte-array chunk-size)]
                  (loop [got 0]
                    (let [r (long (sc/socket-receive! s b 0 chunk-size))] (if (zero? r) got (recur (+ got r)))))))))
      (finally (close-all all)))))
